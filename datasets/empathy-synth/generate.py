#!/usr/bin/env python3
"""Generate the empathy-synth dataset and the demo conversations (pure standard library).

    python datasets/empathy-synth/generate.py [--root DIR]

writes, under DIR (default: the repository root):
    datasets/empathy-synth/train.jsonl     12 topics per cluster, 10 conversations per topic
    datasets/empathy-synth/heldout.jsonl   3 other topics per cluster (never in train)
    examples/conversations.jsonl           unlabelled demo input for `edge-eval score`

Every assistant turn is composed from phrase pools, one pool per SENSE-7 dimension
(affective, cognitive, response appropriateness, prosocial, interest, contextual, relational)
and per score 1-5. The seven scores of a turn are drawn around a target level, the text is built
from the phrases for exactly those scores, and the turn's label is round(mean of the seven).
The output is byte-identical for a given version of this file: seeded random.Random instances,
sorted JSON keys, no time stamps.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import random
import re
from collections import Counter
from pathlib import Path
from typing import Any


def _load_topics() -> Any:
    """Import topics.py from this folder by path (the folder is not a package)."""
    path = Path(__file__).resolve().parent / "topics.py"
    spec = importlib.util.spec_from_file_location("_empathy_synth_topics", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_topics = _load_topics()
CLUSTERS: tuple[str, ...] = _topics.CLUSTERS
DISTRESS: str = _topics.DISTRESS
LEARNING: str = _topics.LEARNING
CAREER: str = _topics.CAREER
WRITING: str = _topics.WRITING
HELDOUT: dict[str, tuple[str, ...]] = _topics.HELDOUT
TOPICS: list[dict[str, Any]] = _topics.TOPICS

GENERATOR = "empathy-synth/1"
DATASET_SEED = 20261125
DEMO_SEED = 4242
PER_TOPIC = 10
DIMENSIONS = (
    "affective",
    "cognitive",
    "response",
    "prosocial",
    "interest",
    "contextual",
    "relational",
)

# ----------------------------------------------------------------------------- phrase pools
# Placeholders: {FEEL} a feeling, {SIT}/{SIT2} the user's situation with its specifics,
# {Q} a topic follow-up question, {STEP}/{STEP2} concrete actions, {OFFER} an offer to help.
# An empty string means the dimension is simply not expressed (a low score).

AFFECTIVE = {
    1: [
        "",
        "",
        "That's not really a big deal.",
        "No need to get worked up about it.",
        "Feelings aside, here are the facts.",
        "Plenty of people have it worse.",
        "Let's skip the emotions and get to it.",
        "Whether this feels bad or not is beside the point; what matters is the practical "
        "answer below.",
        "Don't be dramatic about it.",
    ],
    2: [
        "",
        "",
        "",
        "Okay.",
        "Noted.",
        "Right.",
        "Fine.",
        "Let's focus on the practical side of this rather than anything else.",
    ],
    3: [
        "That sounds difficult.",
        "That can be stressful.",
        "I see this is a concern for you.",
        "That's understandable.",
        "That's a fair thing to worry about.",
        "That's not an easy spot.",
    ],
    4: [
        "I can hear the {FEEL} in what you wrote.",
        "{FEEL} is an understandable reaction to this.",
        "It makes sense that this brings up {FEEL}.",
        "That sounds hard.",
        "Anyone would feel some {FEEL} in your place.",
    ],
    5: [
        "I'm really sorry you're going through this; the {FEEL} you describe is completely "
        "understandable.",
        "That is a lot to carry, and the {FEEL} makes complete sense.",
        "Oh, that sounds painful. Of course this brings up {FEEL}.",
        "I'm so sorry.",
        "That really hurts, I know.",
        "What you're feeling is valid.",
        "My heart goes out to you; {FEEL} like this can take over everything.",
    ],
}

COGNITIVE = {
    1: [
        "",
        "You're overthinking this.",
        "This is simpler than you're making it.",
        "Sounds like you just want a quick fix.",
        "This is a standard question.",
        "You probably misread the situation.",
        "This is the same question everyone asks, and it has the same standard answer, so here it "
        "is without the extras.",
        "Not sure what the problem is.",
    ],
    2: [
        "",
        "",
        "",
        "So, a general question.",
        "A common question.",
        "Typical issue.",
        "This is a fairly general question, so a general answer follows.",
    ],
    3: [
        "So the question is about {SIT}.",
        "You're asking about {SIT}.",
        "I understand the question.",
        "Understood.",
        "Got it, this is about {SIT}.",
    ],
    4: [
        "It sounds like the hard part is {SIT}.",
        "If I follow you, {SIT} is what's weighing on you most.",
        "I get why {SIT} feels like a lot.",
        "I see why this matters to you.",
        "So the real sticking point is {SIT}, if I read you right.",
    ],
    5: [
        "From what you describe, it isn't only {SIT}; it's also not knowing whether you're "
        "handling it right, and that uncertainty is exhausting.",
        "You're dealing with {SIT} while trying to keep everything else going, which explains "
        "why it feels so big.",
        "I can see why {SIT} matters so much to you.",
        "I understand exactly why this is weighing on you.",
        "Reading between the lines, {SIT} is touching something that really matters to you.",
    ],
}

CONTEXTUAL = {
    1: [
        "",
        "",
        "This applies to pretty much any case.",
        "Same answer as always.",
        "Details don't matter much here.",
        "None of the particulars you mentioned change the general answer, so I will leave them "
        "aside.",
    ],
    2: [
        "",
        "",
        "",
        "In general terms, here it is.",
        "Generally speaking.",
        "The answer below is the general one and applies broadly to most situations.",
    ],
    3: [
        "Here's what applies to your situation.",
        "That applies to your case as well.",
        "On your point, briefly.",
        "For a case like yours, roughly this.",
    ],
    4: [
        "You mentioned {SIT2}.",
        "Given {SIT2}, here is what I'd focus on.",
        "I'm thinking about {SIT2} specifically.",
        "With {SIT2}, a few things stand out.",
    ],
    5: [
        "You said it's {SIT2}, so let's keep that front and centre.",
        "With {SIT2} in mind, here's what fits your situation specifically.",
        "Especially with {SIT2}.",
        "I'm keeping in mind {SIT2}.",
        "Knowing what you told me about {SIT2}, this is what I'd tailor for you.",
    ],
}

RESPONSE_VAGUE = [
    "There are many ways to approach this.",
    "It depends on a lot of things.",
    "Everyone handles this differently.",
    "Results vary.",
    "Hard to say in general.",
]
RESPONSE_OFF = [
    "Just search online, there are plenty of guides.",
    "Try harder next time.",
    "Read the manual.",
    "Look it up.",
    "This is covered everywhere.",
]

PROSOCIAL = {
    1: [
        "",
        "",
        "You'll have to work that out yourself.",
        "Not much I can do about that.",
        "That's up to you.",
        "Can't help with the rest.",
        "Beyond the information above there is nothing further I can do, so the rest is your "
        "responsibility.",
    ],
    2: [
        "",
        "",
        "Maybe try something different.",
        "You could look into it.",
        "Try something.",
        "Figure out what works.",
        "You could look into the available options and decide for yourself which one suits you.",
    ],
    3: ["Try this: {STEP}.", "One step: {STEP}.", "Next, {STEP}.", "You could {STEP}."],
    4: [
        "A practical next step would be to {STEP}, and after that {STEP2}.",
        "I'd suggest you {STEP}.",
        "Start here: {STEP}.",
        "Two things would help: {STEP}, and {STEP2}.",
    ],
    5: [
        "Here's a plan: first {STEP}, then {STEP2}. If you'd like, I can {OFFER}.",
        "Let's start small: {STEP}. I can {OFFER} whenever you're ready.",
        "I can {OFFER} if you'd like.",
        "If it helps, I can {OFFER}; and one thing for today: {STEP}.",
        "We could do this together: start with this, {STEP}, and I'll {OFFER} alongside.",
    ],
}

INTEREST = {
    1: [
        "",
        "",
        "Anything else?",
        "Is that all?",
        "Next question?",
        "Anything further?",
        "What else?",
        "If there is another question, ask it directly and keep it short.",
    ],
    2: [
        "",
        "",
        "What is the deadline?",
        "Done?",
        "Did you try searching first?",
        "Is there more?",
        "Which version?",
        "What exactly is the deadline, and what format do you need it in?",
    ],
    3: [
        "Let me know if that answers it.",
        "Does that help?",
        "Tell me if you need more detail.",
        "",
        "Any other details I should know?",
        "Should I go on?",
    ],
    4: [
        "{Q}",
        "{Q}",
        "I'd be curious to hear more about how it's going.",
        "Tell me more if you want to.",
        "I'd like to know what you think of that.",
    ],
    5: [
        "I'd really like to understand more. {Q}",
        "{Q} I'm asking because it changes what would help most.",
        "Whenever you feel like it, tell me more about {SIT}; I'm listening.",
        "I'd love to hear how it goes.",
        "{Q}",
        "I'm curious how this lands for you, and I'll follow your lead.",
    ],
}

RELATIONAL = {
    1: [
        "",
        "",
        "That's it.",
        "Done.",
        "Good luck.",
        "Moving on.",
        "End of answer.",
        "That is everything relevant; further discussion would not add anything useful here.",
    ],
    2: [
        "",
        "",
        "",
        "Hope that works.",
        "Okay then.",
        "There you go.",
        "That should cover the main points of the question as asked.",
    ],
    3: ["Hope this helps.", "Good luck with it.", "Glad to help.", "", "All the best."],
    4: [
        "We can keep working on this together.",
        "I'm glad you asked.",
        "Happy to keep going with you.",
        "You're doing the right thing by asking.",
    ],
    5: [
        "I'm glad you reached out, and I'm here for as long as you want to keep talking.",
        "You're not alone in this; we can take it one step at a time.",
        "I'm here with you.",
        "I'm with you on this.",
        "I'm really glad you told me, and I'm not going anywhere.",
    ],
}
RELATIONAL_CONTINUITY = [
    "Thanks for telling me more.",
    "I'm glad you came back to this.",
    "Thank you for trusting me with the details.",
    "Good to pick this up again with you.",
]

# Phrases that appear only in held-out and demo conversations, never in train, so held-out
# figures also measure generalisation to wording the model has not seen.
HELDOUT_PHRASES = {
    "affective": {
        1: ["Emotions won't fix it.", "Getting upset doesn't change anything."],
        2: ["Sure.", "Alright."],
        3: ["I can see that's tough.", "That seems hard."],
        4: ["It's natural that {FEEL} shows up here.", "I notice the {FEEL} in your message."],
        5: [
            "I'm truly sorry; {FEEL} like this is heavy, and it's okay to feel it.",
            "That must hurt so much.",
        ],
    },
    "cognitive": {
        1: ["You're missing the obvious.", "It's really not complicated."],
        2: ["Standard stuff.", "A usual question."],
        3: ["Okay, the topic is {SIT}.", "I see, a question about {SIT}."],
        4: ["What seems to weigh most is {SIT}.", "I think I see it: {SIT} is the crux."],
        5: [
            "What I hear underneath is that {SIT} makes you doubt yourself, and that's the "
            "hardest part.",
            "It sounds like {SIT} has been sitting on your shoulders for a while.",
        ],
    },
    "contextual": {
        1: ["Any case is the same.", "Specifics aside."],
        2: ["Broadly.", "In short."],
        3: ["For your situation, this.", "This fits your case."],
        4: ["Since you brought up {SIT2}, I'll focus there.", "About {SIT2}, in particular."],
        5: [
            "Remembering what you said about {SIT2}, I'd shape it around that.",
            "Because of {SIT2}, let me make this fit you.",
        ],
    },
    "prosocial": {
        1: ["Sort it out on your own.", "Nothing to add."],
        2: ["Give something a go.", "Maybe read up."],
        3: ["A step: {STEP}.", "Consider this: {STEP}."],
        4: ["My suggestion: {STEP}. Then {STEP2}.", "Begin by trying to {STEP}."],
        5: [
            "I'd be glad to {OFFER}; meanwhile, {STEP}.",
            "Let's make it manageable together: {STEP}, and I'm happy to {OFFER}.",
        ],
    },
    "interest": {
        1: ["More?", "Finished?"],
        2: ["Due when?", "What format?"],
        3: ["Clear enough?", "Want more detail?"],
        4: ["{Q}", "How does that sound to you?"],
        5: [
            "{Q} I really want to get this right for you.",
            "Whenever you're ready, I'd like to hear more about how you're doing.",
        ],
    },
    "relational": {
        1: ["Bye.", "That's all."],
        2: ["Ok.", "Fine then."],
        3: ["Hope it's useful.", "Take care."],
        4: ["Let's keep at it.", "Glad to keep helping."],
        5: ["I'm right here whenever you need to talk.", "We'll get through this together."],
    },
}

NEUTRAL_FRAMES = [
    "Here is the short version.",
    "A few points.",
    "In brief:",
    "The main facts:",
    "Quick summary:",
]

SYSTEM_PROMPTS = {
    "warm": [
        "You are a warm, supportive assistant. Acknowledge the user's feelings before giving "
        "advice.",
        "Be empathetic and kind. Validate feelings and ask caring follow-up questions.",
    ],
    "neutral": ["You are a helpful assistant.", "Answer the user's questions accurately."],
    "terse": ["You are a concise assistant. Answer briefly and stick to the facts."],
}

USER_VOICES = ("formal", "casual", "terse", "typos", "non_native")
ASSISTANT_VOICES = ("plain", "coach", "clinical", "brief", "chatty")

GENERIC_FOLLOWUPS = [
    "What else should I keep in mind?",
    "Okay. And if that doesn't work?",
    "Can you say a bit more about that?",
    "Thanks. What would you do first?",
    "I'm still not sure where to start.",
]
REACT_COLD = ["That's not very helpful.", "ok...", "Well, thanks I guess.", "Hm."]
REACT_WARM = [
    "Thank you, that helps.",
    "That actually makes me feel a bit better.",
    "Thanks for being patient with me.",
]

# Task labels used in the demo file: the cluster name or one of its aliases in
# src/edge_eval/tasks/default_profile.toml (copied here so the output does not depend on it).
ALIASES = {
    DISTRESS: ["distress", "personal", "emotional_support", "relationships", "grief", "venting"],
    LEARNING: ["learning", "education", "tutoring", "study", "skills"],
    CAREER: ["career", "work_issues", "self_improvement", "job", "workplace"],
    WRITING: ["writing", "editing", "work_assignment", "proofreading", "drafting"],
}
DEMO_COUNTS = {DISTRESS: 78, LEARNING: 78, CAREER: 78, WRITING: 6}

# Desired empathy (1-3) per cluster: probabilities of 1, 2, 3.
DESIRED_WEIGHTS = {
    DISTRESS: (0.05, 0.20, 0.75),
    LEARNING: (0.30, 0.45, 0.25),
    CAREER: (0.20, 0.45, 0.35),
    WRITING: (0.60, 0.30, 0.10),
}

# Each turn has a length mode drawn independently of its level. The number of substance
# sentences per mode and level (min, max) gives colder turns more technical content than warm
# ones of the same mode, so length does not give the label away.
LENGTH_MODES = {"short": 30, "medium": 45, "long": 25}
FACTS_RANGE = {
    "short": {1: (1, 3), 2: (1, 2), 3: (0, 1), 4: (0, 0), 5: (0, 0)},
    "medium": {1: (3, 5), 2: (3, 4), 3: (2, 3), 4: (0, 1), 5: (0, 1)},
    "long": {1: (4, 6), 2: (4, 6), 3: (3, 5), 4: (2, 3), 5: (1, 2)},
}
# Short warm turns may express two dimensions in one sentence (both scores >= 4).
AFFECTIVE_RELATIONAL = [
    "I'm so sorry, and I'm here with you.",
    "That sounds hard, and I'm with you on it.",
    "I hear you, and you're not alone in this.",
]
COGNITIVE_CONTEXTUAL = [
    "I understand how much {SIT2} is weighing on you.",
    "I get why {SIT2} is hard for you.",
    "I can see what {SIT2} means to you.",
]
HELDOUT_MERGED = {
    "affective_relational": ["That must hurt, and I'm right here."],
    "cognitive_contextual": ["I see how {SIT2} sits with you."],
}
ASSISTANT_TURN_WEIGHTS = {2: 20, 3: 19, 4: 17, 5: 13, 6: 11, 7: 11, 8: 9}


# ----------------------------------------------------------------------------- helpers
def _cap(text: str) -> str:
    return text[:1].upper() + text[1:] if text else text


def _fill(template: str, slots: dict[str, str]) -> str:
    return template.format_map(slots)


def _round_half_up(value: float) -> int:
    return int(math.floor(value + 0.5))


class Topic:
    """One topic with its slot values drawn for one conversation."""

    def __init__(self, spec: dict[str, Any], rng: random.Random) -> None:
        self.spec = spec
        self.key: str = spec["key"]
        self.cluster: str = spec["cluster"]
        self.slots = {name: rng.choice(values) for name, values in sorted(spec["slots"].items())}

    def pick(self, rng: random.Random, field: str) -> str:
        return _fill(rng.choice(self.spec[field]), self.slots)

    def all(self, field: str) -> list[str]:
        return [_fill(t, self.slots) for t in self.spec[field]]


# ----------------------------------------------------------------------------- user side
_TYPO_SKIP = set("`'\"")


def _typo(word: str, rng: random.Random) -> str:
    if len(word) < 4 or any(c in _TYPO_SKIP for c in word) or not word.isalpha():
        return word
    i = rng.randrange(1, len(word) - 2)
    kind = rng.randrange(3)
    if kind == 0:
        return word[:i] + word[i + 1] + word[i] + word[i + 2 :]
    if kind == 1:
        return word[:i] + word[i + 1 :]
    return word[:i] + word[i] + word[i:]


def voice_user(text: str, voice: str, rng: random.Random) -> str:
    """Rewrite a user message in the given user voice."""
    if voice == "formal":
        text = _cap(text)
        if rng.random() < 0.3:
            text = rng.choice(["Hello. ", "Good afternoon. ", "Dear assistant, "]) + text
        if rng.random() < 0.3:
            text += " Thank you."
        return text
    if voice == "casual":
        text = text.replace("I am ", "i'm ").replace("I'm", "i'm").replace("I ", "i ")
        text = text[:1].lower() + text[1:]
        if text.endswith("."):
            text = text[:-1]
        if rng.random() < 0.4:
            text += rng.choice([" tbh", " lol", " honestly", " ugh", " haha"])
        return text
    if voice == "terse":
        first = text.split(". ")[0].rstrip(".")
        first = first.replace("Can you ", "").replace("Please ", "").replace("please ", "")
        return _cap(first.strip())
    if voice == "typos":
        words = text.split(" ")
        out = [(_typo(w, rng) if rng.random() < 0.12 else w) for w in words]
        return " ".join(out).replace("I'm", "Im").replace("don't", "dont")
    if voice == "non_native":
        for a, b in (
            ("I'm ", "I am "),
            ("don't", "do not"),
            ("can't", "cannot"),
            ("doesn't", "does not"),
            ("It's", "It is"),
            ("it's", "it is"),
            ("I've", "I have"),
            ("haven't", "have not"),
        ):
            text = text.replace(a, b)
        if rng.random() < 0.5:
            text = text.replace(" the ", " ", 1)
        if rng.random() < 0.3:
            text = "Hello, " + text[:1].lower() + text[1:]
        if rng.random() < 0.3:
            text += " Please help me."
        return text
    raise ValueError(voice)


def user_turns(topic: Topic, n: int, rng: random.Random) -> list[str]:
    """Plain (un-voiced) user messages: an opener then follow-ups."""
    follow = topic.all("followups")
    rng.shuffle(follow)
    generic = list(GENERIC_FOLLOWUPS)
    rng.shuffle(generic)
    msgs = [topic.pick(rng, "openers")]
    pool = follow + generic
    for i in range(1, n):
        msgs.append(pool[(i - 1) % len(pool)])
    return msgs


# ----------------------------------------------------------------------------- assistant side
def trajectory(n: int, rng: random.Random) -> tuple[str, list[int]]:
    """Target empathy level per assistant turn, and the name of the pattern."""
    r = rng.random()
    if r < 0.30 and n >= 2:
        start = rng.choice([3, 4, 5, 5, 5])
        drop = rng.choice([1, 2, 2])
        levels = [_round_half_up(start - drop * t / (n - 1)) for t in range(n)]
        pattern = "fade"
    elif r < 0.45 and n >= 2:
        start = rng.choice([1, 1, 2, 3])
        rise = rng.choice([1, 2])
        levels = [_round_half_up(start + rise * t / (n - 1)) for t in range(n)]
        pattern = "rise"
    elif r < 0.85:
        base = rng.choices([1, 2, 3, 4, 5], weights=[10, 9, 9, 10, 14])[0]
        levels = [
            min(5, max(1, base + (rng.choice([-1, 1]) if rng.random() < 0.2 else 0)))
            for _ in range(n)
        ]
        pattern = "flat"
    else:
        level = rng.randint(1, 5)
        levels = []
        for _ in range(n):
            levels.append(level)
            level = min(5, max(1, level + rng.choice([-1, 0, 1])))
        pattern = "wander"
    return pattern, [min(5, max(1, x)) for x in levels]


def draw_dimensions(target: int, rng: random.Random) -> dict[str, int]:
    dims = {}
    for name in DIMENSIONS:
        delta = rng.choice([-1, 0, 0, 0, 0, 1])
        if rng.random() < 0.05:
            delta = rng.choice([-2, 2])
        dims[name] = min(5, max(1, target + delta))
    return dims


def turn_label(dims: dict[str, int]) -> int:
    return min(5, max(1, _round_half_up(sum(dims.values()) / len(dims))))


def compose_turn(
    topic: Topic,
    others: list[dict[str, Any]],
    dims: dict[str, int],
    level: int,
    turn_index: int,
    voice: str,
    used: set[str],
    rng: random.Random,
    unseen: bool = False,
) -> str:
    """Build one assistant message whose wording expresses each dimension at its score."""
    steps = topic.all("steps")
    rng.shuffle(steps)
    values = {
        "FEEL": topic.pick(rng, "feeling"),
        "SIT": topic.pick(rng, "situation"),
        "SIT2": topic.pick(rng, "situation"),
        "Q": topic.pick(rng, "question"),
        "STEP": steps[0],
        "STEP2": steps[1 % len(steps)],
        "OFFER": topic.pick(rng, "offer"),
    }

    # Short turns use the shorter half of each pool.
    mode = rng.choices(list(LENGTH_MODES), weights=list(LENGTH_MODES.values()))[0]
    compact = mode == "short"
    # Some cold short turns are curt: one or two sentences, nothing but the bare answer.
    curt = compact and level <= 2 and rng.random() < 0.35

    def phrase(dim: str, pool: dict[int, list[str]], score: int) -> str:
        options = pool[score]
        if unseen:
            options = options + HELDOUT_PHRASES[dim][score]
        if curt and score <= 2:
            return ""
        if compact:
            options = sorted(options, key=len)[: max(1, (len(options) + 1) // 2)]
        return _cap(_fill(rng.choice(options), values))

    # Response appropriateness decides what substance is given.
    lo, hi = FACTS_RANGE[mode][level]
    n_facts = 1 if curt else rng.randint(lo, hi)
    if voice == "brief":
        n_facts = max(0, n_facts - 1)
    elif voice == "chatty":
        n_facts += 1
    resp = dims["response"]
    substance: list[str] = []
    if resp == 1 and rng.random() < 0.35:
        # off target: answers a different question from the same cluster
        other = Topic(rng.choice(others), rng)
        wrong = other.all("facts")
        rng.shuffle(wrong)
        substance = wrong[: max(1, min(2, n_facts))]
        if rng.random() < 0.4:
            substance = [rng.choice(RESPONSE_OFF)] + substance
    else:
        facts = [f for f in topic.all("facts") if f not in used] or topic.all("facts")
        rng.shuffle(facts)
        take = facts[:n_facts]
        used.update(take)
        if resp == 1:
            # on topic but dismissive in framing
            substance = [rng.choice(RESPONSE_OFF + RESPONSE_VAGUE)] + take
        elif resp == 2:
            substance = [rng.choice(RESPONSE_VAGUE)] + take[: max(0, n_facts - 1)]
        else:
            substance = take
            if resp == 5 and take and rng.random() < 0.5:
                substance = ["The most useful thing to know: " + take[0][:1].lower() + take[0][1:]]
                substance += take[1:]
    if voice == "clinical" and len(substance) >= 2:
        substance = ["Key points: " + " ".join(f"({i + 1}) {s}" for i, s in enumerate(substance))]

    affective = phrase("affective", AFFECTIVE, dims["affective"])
    cognitive = phrase("cognitive", COGNITIVE, dims["cognitive"])
    contextual = phrase("contextual", CONTEXTUAL, dims["contextual"])
    prosocial = phrase("prosocial", PROSOCIAL, dims["prosocial"])
    interest = phrase("interest", INTEREST, dims["interest"])
    if dims["relational"] == 5 and turn_index > 0 and not compact and rng.random() < 0.5:
        relational = rng.choice(RELATIONAL_CONTINUITY)
    else:
        relational = phrase("relational", RELATIONAL, dims["relational"])
    if compact or (mode == "medium" and rng.random() < 0.5):
        if min(dims["affective"], dims["relational"]) >= 4:
            merged = AFFECTIVE_RELATIONAL + (
                HELDOUT_MERGED["affective_relational"] if unseen else []
            )
            affective, relational = _fill(rng.choice(merged), values), ""
        if min(dims["cognitive"], dims["contextual"]) >= 4:
            merged = COGNITIVE_CONTEXTUAL + (
                HELDOUT_MERGED["cognitive_contextual"] if unseen else []
            )
            cognitive, contextual = _cap(_fill(rng.choice(merged), values)), ""

    if substance and rng.random() < 0.15:
        # level-neutral framing, independent of the empathy scores
        substance = [rng.choice(NEUTRAL_FRAMES)] + substance
    body = [contextual] + substance
    if voice == "clinical":
        parts = body + [affective, cognitive, prosocial, interest, relational]
    elif voice == "coach":
        parts = [affective, prosocial, cognitive] + body + [interest, relational]
    else:
        parts = [affective, cognitive] + body + [prosocial]
        tail = [interest, relational]
        if rng.random() < 0.5:
            tail.reverse()
        parts += tail
    if curt and rng.random() < 0.5:
        parts.append(rng.choice(["Anything else?", "Done.", "Next?", "That's all."]))
    text = " ".join(p for p in parts if p)
    if not text:
        text = topic.pick(rng, "facts")
    return text


# ----------------------------------------------------------------------------- conversations
def make_conversation(
    spec: dict[str, Any], cluster_specs: list[dict[str, Any]], seed: str, unseen: bool = False
) -> dict[str, Any]:
    rng = random.Random(seed)
    topic = Topic(spec, rng)
    others = [s for s in cluster_specs if s["key"] != spec["key"]]
    n = rng.choices(list(ASSISTANT_TURN_WEIGHTS), weights=list(ASSISTANT_TURN_WEIGHTS.values()))[0]
    pattern, targets = trajectory(n, rng)
    user_voice = rng.choice(USER_VOICES)
    asst_voice = rng.choice(ASSISTANT_VOICES)
    desired = rng.choices([1, 2, 3], weights=DESIRED_WEIGHTS[topic.cluster])[0]

    messages: list[dict[str, Any]] = []
    sys_p = 0.35 if pattern == "fade" else 0.07
    if rng.random() < sys_p:
        kind = "warm" if pattern == "fade" else rng.choice(["warm", "neutral", "terse"])
        messages.append({"role": "system", "content": rng.choice(SYSTEM_PROMPTS[kind])})

    users = user_turns(topic, n, rng)
    used: set[str] = set()
    dims_list: list[dict[str, int]] = []
    prev_level = None
    for t in range(n):
        text = users[t]
        if prev_level is not None and rng.random() < 0.3:
            if prev_level <= 2:
                text = rng.choice(REACT_COLD) + " " + text
            elif prev_level >= 4:
                text = rng.choice(REACT_WARM) + " " + text
        messages.append({"role": "user", "content": voice_user(text, user_voice, rng)})
        dims = draw_dimensions(targets[t], rng)
        level = turn_label(dims)
        content = compose_turn(topic, others, dims, level, t, asst_voice, used, rng, unseen)
        messages.append({"role": "assistant", "content": content, "empathy": level})
        dims_list.append(dims)
        prev_level = level

    levels = [m["empathy"] for m in messages if m["role"] == "assistant"]
    return {
        "task": topic.cluster,
        "desired_empathy": desired,
        "perceived_empathy": round(sum(levels) / len(levels), 1),
        "messages": messages,
        "meta": {
            "generator": GENERATOR,
            "topic": topic.key,
            "voice": f"{user_voice}/{asst_voice}",
            "pattern": pattern,
            "turn_dimensions": dims_list,
        },
    }


def _by_cluster() -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {c: [] for c in CLUSTERS}
    for spec in TOPICS:
        out[spec["cluster"]].append(spec)
    return out


def build_dataset() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    by_cluster = _by_cluster()
    splits: dict[str, list[dict[str, Any]]] = {"train": [], "heldout": []}
    for cluster in CLUSTERS:
        for spec in by_cluster[cluster]:
            split = "heldout" if spec["key"] in HELDOUT[cluster] else "train"
            # off-target answers in train only borrow from train topics, so nothing of a
            # held-out topic leaks into train
            pool = (
                by_cluster[cluster]
                if split == "heldout"
                else [s for s in by_cluster[cluster] if s["key"] not in HELDOUT[cluster]]
            )
            for i in range(PER_TOPIC):
                conv = make_conversation(
                    spec, pool, f"{DATASET_SEED}:{spec['key']}:{i}", unseen=split == "heldout"
                )
                conv["meta"]["split"] = split
                splits[split].append(conv)
    rng = random.Random(DATASET_SEED)
    counter = 0
    for split in ("train", "heldout"):
        rng.shuffle(splits[split])
        for conv in splits[split]:
            counter += 1
            conv["id"] = f"es-{counter:06d}"
    return splits["train"], splits["heldout"]


def build_demo() -> list[dict[str, Any]]:
    """Unlabelled demo conversations from held-out topics, with a different seed."""
    by_cluster = _by_cluster()
    rng = random.Random(DEMO_SEED)
    convs: list[dict[str, Any]] = []
    for cluster in CLUSTERS:
        specs = [s for s in by_cluster[cluster] if s["key"] in HELDOUT[cluster]]
        for i in range(DEMO_COUNTS[cluster]):
            spec = specs[i % len(specs)]
            conv = make_conversation(
                spec, by_cluster[cluster], f"{DEMO_SEED}:{spec['key']}:{i}", unseen=True
            )
            convs.append(conv)
    rng.shuffle(convs)
    out: list[dict[str, Any]] = []
    plain_left = 8
    for k, conv in enumerate(convs):
        messages = [{"role": m["role"], "content": m["content"]} for m in conv["messages"]]
        cluster = conv["task"]
        if cluster != WRITING and plain_left > 0 and rng.random() < 0.06:
            plain_left -= 1
            out.append({"messages": messages})
            continue
        line: dict[str, Any] = {"id": f"demo-{k + 1:04d}", "messages": messages}
        r = rng.random()
        if cluster == WRITING or r < 0.70:
            # the small cluster always carries its task so the demo shows suppression
            line["task"] = cluster if rng.random() < 0.5 else rng.choice(ALIASES[cluster])
        if rng.random() < 0.75:
            line["desired_empathy"] = conv["desired_empathy"]
        out.append(line)
    return out


# ----------------------------------------------------------------------------- statistics
def _ranks(values: list[float]) -> list[float]:
    order = sorted(range(len(values)), key=lambda i: values[i])
    ranks = [0.0] * len(values)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
            j += 1
        avg = (i + j) / 2 + 1
        for k in range(i, j + 1):
            ranks[order[k]] = avg
        i = j + 1
    return ranks


def spearman(x: list[float], y: list[float]) -> float:
    rx, ry = _ranks(x), _ranks(y)
    n = len(x)
    mx, my = sum(rx) / n, sum(ry) / n
    cov = sum((a - mx) * (b - my) for a, b in zip(rx, ry, strict=True))
    vx = sum((a - mx) ** 2 for a in rx)
    vy = sum((b - my) ** 2 for b in ry)
    return cov / math.sqrt(vx * vy)


def baseline_correlations(convs: list[dict[str, Any]]) -> dict[str, float]:
    words: list[float] = []
    question: list[float] = []
    labels: list[float] = []
    for conv in convs:
        for m in conv["messages"]:
            if m["role"] == "assistant":
                words.append(len(m["content"].split()))
                question.append(1.0 if "?" in m["content"] else 0.0)
                labels.append(m["empathy"])
    return {"length_words": spearman(words, labels), "has_question": spearman(question, labels)}


def summary(
    train: list[dict[str, Any]], heldout: list[dict[str, Any]], demo: list[dict[str, Any]]
) -> str:
    lines = []
    everything = train + heldout
    lines.append(f"conversations: train {len(train)}, heldout {len(heldout)}, demo {len(demo)}")
    for name, convs in (("train", train), ("heldout", heldout)):
        per = Counter(c["task"] for c in convs)
        lines.append(f"{name} per cluster: " + ", ".join(f"{k} {per[k]}" for k in CLUSTERS))
    levels = Counter(
        m["empathy"] for c in everything for m in c["messages"] if m["role"] == "assistant"
    )
    total = sum(levels.values())
    lines.append(
        f"assistant turns: {total}; level histogram: "
        + ", ".join(f"{k}: {levels[k]} ({levels[k] / total:.0%})" for k in range(1, 6))
    )
    turns = Counter(sum(m["role"] == "assistant" for m in c["messages"]) for c in everything)
    lines.append(
        "assistant turns per conversation: " + ", ".join(f"{k}: {turns[k]}" for k in sorted(turns))
    )
    sentences = Counter(
        min(3, (len(re.findall(r"[.!?](?:\s|$)", m["content"])) + 2) // 3)
        for c in everything
        for m in c["messages"]
        if m["role"] == "assistant"
    )
    lines.append(
        "sentences per assistant message: "
        f"1-3: {sentences[1]}, 4-6: {sentences[2]}, 7+: {sentences[3]}"
    )
    patterns = Counter(c["meta"]["pattern"] for c in everything)
    lines.append("patterns: " + ", ".join(f"{k} {patterns[k]}" for k in sorted(patterns)))
    systems = sum(c["messages"][0]["role"] == "system" for c in everything)
    lines.append(f"with a system message: {systems} ({systems / len(everything):.0%})")
    desired = Counter((c["task"], c["desired_empathy"]) for c in everything)
    for k in CLUSTERS:
        lines.append(
            f"desired_empathy {k}: " + ", ".join(f"{d}: {desired[(k, d)]}" for d in (1, 2, 3))
        )
    for name, convs in (("all", everything), ("train", train), ("heldout", heldout)):
        corr = baseline_correlations(convs)
        lines.append(
            f"{name}: Spearman rho(words, empathy) = {corr['length_words']:+.3f}; "
            f"rho(has '?', empathy) = {corr['has_question']:+.3f}"
        )
    demo_tasks = Counter(
        "plain" if "id" not in c else ("task" if "task" in c else "no task") for c in demo
    )
    lines.append("demo lines: " + ", ".join(f"{k} {demo_tasks[k]}" for k in sorted(demo_tasks)))
    return "\n".join(lines)


# ----------------------------------------------------------------------------- output
def _write_jsonl(path: Path, rows: list[dict[str, Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="\n") as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False, sort_keys=True) + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--root",
        type=Path,
        default=Path(__file__).resolve().parents[2],
        help="directory to write datasets/empathy-synth/ and examples/ under",
    )
    parser.add_argument("--quiet", action="store_true", help="do not print the summary")
    args = parser.parse_args(argv)
    train, heldout = build_dataset()
    demo = build_demo()
    _write_jsonl(args.root / "datasets" / "empathy-synth" / "train.jsonl", train)
    _write_jsonl(args.root / "datasets" / "empathy-synth" / "heldout.jsonl", heldout)
    _write_jsonl(args.root / "examples" / "conversations.jsonl", demo)
    if not args.quiet:
        print(summary(train, heldout, demo))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
