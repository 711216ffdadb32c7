"""Topic catalogue for empathy-synth: every phrase here was written for this project.

Each topic is a dict with:
  key        unique topic key
  cluster    one of the four task clusters of DESIGN.md section 1
  slots      name -> candidate values; one value per slot is drawn per conversation and
             substituted into every template of that conversation ({slot} syntax)
  openers    first user messages
  followups  later user messages
  facts      task substance the assistant gives (explanations, edits, plans)
  steps      concrete actions (imperative, no final period) used by the prosocial dimension
  feeling    noun phrases naming what the user probably feels (affective dimension)
  situation  noun phrases that restate the user's situation with its specifics
  question   topic-specific follow-up questions an engaged listener would ask
  offer      things the assistant can offer to do next (verb phrase)
"""

from __future__ import annotations

DISTRESS = "distressing_social_personal"
LEARNING = "learning_skills"
CAREER = "work_career_self_improvement"
WRITING = "work_assignment_writing"

CLUSTERS = (DISTRESS, LEARNING, CAREER, WRITING)

# Topics listed here are held out: never used in train.jsonl, only in heldout.jsonl and in the
# demo file examples/conversations.jsonl.
HELDOUT = {
    DISTRESS: ("pet_loss", "debt_shame", "homesick_student"),
    LEARNING: ("git_branches", "japanese_kana", "photo_exposure"),
    CAREER: ("layoff", "first_time_manager", "morning_routine"),
    WRITING: ("press_release", "resignation_letter", "recommendation_letter"),
}

TOPICS: list[dict[str, object]] = [
    # ------------------------------------------------------------------ distressing / personal
    {
        "key": "grief_parent",
        "cluster": DISTRESS,
        "slots": {
            "rel": ["mum", "dad", "grandmother", "stepfather"],
            "weeks": ["three", "five", "seven", "two"],
        },
        "openers": [
            "My {rel} died {weeks} weeks ago and I still can't focus on anything. Everyone "
            "expects me to be back to normal.",
            "It has been {weeks} weeks since my {rel} passed away. Some mornings I forget for a "
            "second and then it hits me all over again.",
        ],
        "followups": [
            "People at work keep asking if I'm okay and I just say fine.",
            "I feel guilty when I have a good hour, like I'm forgetting them.",
            "The funeral is over but now I have to sort out the house and the paperwork.",
            "My brother seems to be coping much better than me.",
        ],
        "facts": [
            "Grief rarely moves in neat stages; it tends to come in waves, and a hard day after a "
            "calmer week is common rather than a step backwards.",
            "Difficulty concentrating, poor sleep and forgetting things are typical in the first "
            "months after a death.",
            "Siblings often grieve on different timelines and in different styles, so looking "
            "calm is not the same as coping better.",
            "Practical tasks like clearing a house can be split into small pieces, and nothing "
            "has to be decided in the first weeks.",
            "Having moments of relief or laughter does not mean you loved your {rel} any less.",
        ],
        "steps": [
            "tell one trusted colleague a short true sentence instead of 'fine'",
            "pick one small paperwork task for this week and leave the rest",
            "set aside a few minutes a day to look at photos or write to your {rel}",
            "ask your GP about bereavement support if the fog does not lift",
        ],
        "feeling": ["grief", "exhaustion and sadness", "numbness"],
        "situation": [
            "losing your {rel} only {weeks} weeks ago",
            "everyone expecting you to be back to normal so soon",
        ],
        "question": [
            "What was your {rel} like?",
            "Who around you knows how hard these {weeks} weeks have been?",
        ],
        "offer": [
            "help you write a short note to your manager about needing some slack",
            "make a gentle list for the house paperwork",
        ],
    },
    {
        "key": "breakup",
        "cluster": DISTRESS,
        "slots": {
            "partner": ["Sam", "Jonas", "Priya", "Alex", "Mia"],
            "years": ["two", "four", "six", "three"],
        },
        "openers": [
            "{partner} ended things last night after {years} years. I didn't see it coming at all.",
            "We broke up. {years} years with {partner} and now I'm sleeping on a friend's sofa.",
        ],
        "followups": [
            "I keep checking their profile even though I know it makes it worse.",
            "Our friends are all shared and I don't know who to talk to.",
            "Part of me wants to text {partner} and ask what I did wrong.",
            "I have to go to work tomorrow and pretend everything is fine.",
        ],
        "facts": [
            "After a long relationship ends, the brain reacts a bit like withdrawal, which is why "
            "checking their profile feels compulsive.",
            "Muting or archiving rather than blocking can cut the urge to check without a big "
            "dramatic step.",
            "Texting for an explanation right away rarely brings the closure people hope for; the "
            "answer often raises more questions.",
            "Shared friends usually handle it better when you tell them plainly you are not "
            "asking them to pick sides.",
            "Sleep, food and a bit of daylight matter more than they seem in the first fortnight.",
        ],
        "steps": [
            "mute {partner}'s accounts for the next two weeks",
            "write the text you want to send in your notes app instead of sending it",
            "message one friend and ask to meet for a walk this week",
            "plan tomorrow's work day with two small tasks only",
        ],
        "feeling": ["heartbreak", "shock and hurt", "disorientation"],
        "situation": [
            "{partner} ending {years} years together overnight",
            "sleeping on a friend's sofa right after the breakup",
        ],
        "question": [
            "How are you sleeping since it happened?",
            "Is there a friend you feel safe telling the whole story to?",
        ],
        "offer": [
            "help you word a message to your shared friends",
            "sketch a plan for the next few days",
        ],
    },
    {
        "key": "loneliness_new_city",
        "cluster": DISTRESS,
        "slots": {
            "city": ["Leeds", "Lyon", "Rotterdam", "Denver", "Porto"],
            "months": ["four", "eight", "six", "ten"],
        },
        "openers": [
            "I moved to {city} {months} months ago for work and I still haven't made a single "
            "friend.",
            "Weekends in {city} are the worst. I moved here {months} months ago and talk to nobody "
            "from Friday to Monday.",
        ],
        "followups": [
            "I tried a meetup once but everyone already knew each other.",
            "My family says I should just come home.",
            "Honestly I'm embarrassed that I'm this lonely at my age.",
            "Colleagues are nice but they all have their own lives.",
        ],
        "facts": [
            "Adult friendships usually need repeated contact: research on friendship suggests "
            "dozens of hours together before someone feels like a friend.",
            "Recurring groups such as a weekly class, a choir or a running club work better than "
            "one-off events because you see the same faces.",
            "Loneliness after a move is extremely common and says more about circumstances than "
            "about you.",
            "Inviting one colleague for a specific, small plan, like lunch on Thursday, is easier "
            "to accept than an open 'we should hang out'.",
        ],
        "steps": [
            "sign up for one weekly activity in {city} and commit to four sessions",
            "ask one colleague to a specific lunch this week",
            "schedule a call with someone from home every Sunday",
            "go back to the same meetup twice more before judging it",
        ],
        "feeling": ["loneliness", "isolation", "embarrassment and loneliness"],
        "situation": [
            "being {months} months into {city} without friends",
            "long silent weekends in {city}",
        ],
        "question": [
            "What did you enjoy doing with friends before the move?",
            "What would a good Saturday in {city} look like for you?",
        ],
        "offer": [
            "look at the kinds of weekly groups that suit you",
            "help you write a low-pressure invite to a colleague",
        ],
    },
    {
        "key": "exam_anxiety",
        "cluster": DISTRESS,
        "slots": {
            "exam": [
                "bar exam",
                "final chemistry exam",
                "medical licensing exam",
                "driving test",
                "accounting exam",
            ],
            "days": ["nine", "four", "twelve", "six"],
        },
        "openers": [
            "My {exam} is in {days} days and I freeze every time I open my notes. I failed it once "
            "already.",
            "I can't sleep. {exam} in {days} days, I've studied for months and I feel like I know "
            "nothing.",
        ],
        "followups": [
            "My parents paid for the retake and I can't let them down again.",
            "When I do practice questions my hands shake.",
            "Everyone in my study group seems calmer than me.",
            "What if I blank out in the room?",
        ],
        "facts": [
            "Feeling you know nothing is a common effect of anxiety on recall, not a reliable "
            "measure of what you actually know.",
            "Timed practice under exam-like conditions reduces the shock of the real room.",
            "Slow breathing with a longer out-breath, around four seconds in and six out, calms "
            "the "
            "body's alarm response within a minute or two.",
            "If you blank on a question, skipping it and returning later usually frees the memory.",
            "In the last days, sleep consolidates learning more than extra late-night hours do.",
        ],
        "steps": [
            "do one timed practice set tomorrow morning",
            "write a one-page list of what you do know",
            "plan a fixed bedtime for the last {days} nights",
            "practise the four-in, six-out breath twice a day",
        ],
        "feeling": ["anxiety", "dread", "pressure"],
        "situation": [
            "the {exam} only {days} days away after a failed first attempt",
            "freezing whenever you open your notes",
        ],
        "question": [
            "What happened in the room the first time?",
            "Which part of the {exam} worries you most?",
        ],
        "offer": [
            "build a {days}-day revision plan with you",
            "walk through what to do if you blank out",
        ],
    },
    {
        "key": "friendship_fallout",
        "cluster": DISTRESS,
        "slots": {
            "friend": ["Hannah", "Marco", "Leila", "Tom", "Ines"],
            "event": ["the birthday dinner", "the wedding", "the group trip", "the housewarming"],
        },
        "openers": [
            "My best friend {friend} didn't show up to {event} and hasn't apologised. We've been "
            "friends since school.",
            "{friend} and I had a huge argument after {event} and now the group chat is silent.",
        ],
        "followups": [
            "I don't know if I'm overreacting.",
            "Other friends are saying I should let it go.",
            "I wrote a long message but haven't sent it.",
            "Maybe the friendship has just run its course.",
        ],
        "facts": [
            "Long friendships often hit a rupture when expectations change, and many recover if "
            "both people can name what hurt.",
            "A short message that describes your feeling and asks to talk usually lands better "
            "than a long list of grievances.",
            "Being hurt by a no-show at {event} is a reasonable response, not an overreaction.",
            "Group chats tend to go quiet because others feel awkward, not because they have "
            "taken sides.",
        ],
        "steps": [
            "cut your long message down to three sentences and ask to meet",
            "decide what you need from {friend}: an apology, an explanation or space",
            "talk to {friend} in person rather than in the group chat",
        ],
        "feeling": ["hurt", "disappointment and confusion", "a sense of being let down"],
        "situation": [
            "{friend} missing {event} without a word",
            "a friendship since school suddenly going silent",
        ],
        "question": [
            "What would you most like {friend} to understand?",
            "Has anything like this happened between you before?",
        ],
        "offer": [
            "help you shorten the message to {friend}",
            "role-play how the conversation might go",
        ],
    },
    {
        "key": "pet_loss",
        "cluster": DISTRESS,
        "slots": {
            "pet": ["Biscuit", "Luna", "Oscar", "Pepper"],
            "animal": ["dog", "cat", "rabbit"],
            "age": ["fourteen", "eleven", "nine"],
        },
        "openers": [
            "We had to put {pet} to sleep yesterday. My {animal} was {age} and I feel stupid for "
            "crying this much.",
            "The house is so quiet without {pet}. {age} years with my {animal} and now nothing.",
        ],
        "followups": [
            "I keep wondering if we waited too long or not long enough.",
            "My kids are asking when {pet} is coming back.",
            "People say it's just a pet.",
            "I still put the bowl out in the morning by habit.",
        ],
        "facts": [
            "Losing a long-time pet can be as painful as losing a person; the daily routines you "
            "shared are everywhere in the house.",
            "Almost everyone who makes the euthanasia decision second-guesses the timing "
            "afterwards; vets describe it as choosing a kind day over a worse one.",
            "Young children understand death better with plain words like 'died' than with "
            "phrases like 'went to sleep'.",
            "Keeping one ritual, such as a photo or planting something, helps many families "
            "mark the loss.",
        ],
        "steps": [
            "tell the kids in simple words that {pet} died and will not come back",
            "put the bowl away together as a small goodbye",
            "write down a few favourite memories of {pet}",
        ],
        "feeling": ["grief", "sadness and guilt", "emptiness"],
        "situation": [
            "saying goodbye to {pet} after {age} years",
            "the quiet house without your {animal}",
        ],
        "question": [
            "What is your favourite memory of {pet}?",
            "How are the kids taking it so far?",
        ],
        "offer": [
            "suggest words to explain it to the kids",
            "think of a small ritual to remember {pet}",
        ],
    },
    {
        "key": "parent_diagnosis",
        "cluster": DISTRESS,
        "slots": {
            "rel": ["mother", "father", "aunt"],
            "illness": ["early dementia", "Parkinson's", "a heart condition", "stage two cancer"],
        },
        "openers": [
            "My {rel} was just diagnosed with {illness}. I live two hours away and I feel useless.",
            "We found out on Monday that my {rel} has {illness}. I can't stop reading horror "
            "stories "
            "online.",
        ],
        "followups": [
            "My siblings expect me to handle everything because I don't have kids.",
            "I'm scared of saying the wrong thing when I visit.",
            "The doctors used so many terms I didn't understand.",
            "I feel selfish worrying about my own job in all this.",
        ],
        "facts": [
            "Search results tend to show the worst cases; the specialist's view of your {rel}'s "
            "situation is a far better guide.",
            "Writing questions down before appointments and asking for a summary in plain words "
            "is normal and helpful.",
            "Caring tasks go better when siblings split them explicitly, for example one on "
            "appointments, one on money, one on visits.",
            "Worrying about your own job and health is part of caring, not selfishness.",
        ],
        "steps": [
            "write down the three questions you most want the doctor to answer",
            "call a family meeting to split tasks with your siblings",
            "limit searching to one trusted patient charity site",
        ],
        "feeling": ["fear", "worry and helplessness", "shock"],
        "situation": [
            "your {rel}'s {illness} diagnosis while you live two hours away",
            "your siblings leaving everything to you",
        ],
        "question": [
            "How is your {rel} taking the news?",
            "What support do you have for yourself right now?",
        ],
        "offer": [
            "draft questions for the next appointment",
            "help you plan the family conversation",
        ],
    },
    {
        "key": "panic_attacks",
        "cluster": DISTRESS,
        "slots": {
            "place": ["the supermarket", "the train", "a meeting", "the cinema"],
            "times": ["three", "twice", "four"],
        },
        "openers": [
            "I had a panic attack in {place} again, that's {times} times this month. I thought I "
            "was "
            "having a heart attack.",
            "Is it normal to feel like you're dying in {place}? It happened {times} times now.",
        ],
        "followups": [
            "Now I'm avoiding {place} completely.",
            "The doctor said my heart is fine but it didn't feel fine.",
            "I'm scared it'll happen while I'm driving.",
            "My partner doesn't really get it.",
        ],
        "facts": [
            "A panic attack typically peaks within about ten minutes and, while terrifying, is "
            "not dangerous to a healthy heart.",
            "Avoiding the place where it happened brings short relief but tends to make the fear "
            "spread to more places.",
            "Grounding, such as naming five things you can see, pulls attention out of the "
            "spiral of body sensations.",
            "Cognitive behavioural therapy has strong evidence for panic disorder and is often "
            "available through a GP referral.",
        ],
        "steps": [
            "practise naming five things you can see when the wave starts",
            "go back to {place} for a short visit with someone you trust",
            "ask your GP about a referral for CBT",
        ],
        "feeling": ["fear", "panic and exhaustion", "helplessness"],
        "situation": [
            "{times} panic attacks this month, the latest in {place}",
            "being afraid of your own body's alarm",
        ],
        "question": [
            "What goes through your mind just before it starts?",
            "Who knows about these attacks so far?",
        ],
        "offer": [
            "walk you through a grounding exercise now",
            "help you explain panic to your partner",
        ],
    },
    {
        "key": "divorce_coparenting",
        "cluster": DISTRESS,
        "slots": {
            "ex": ["Daniel", "Claire", "Ravi", "Sofia"],
            "kid": ["Ella", "Noah", "Zoe", "Leo"],
            "age": ["seven", "ten", "five"],
        },
        "openers": [
            "The divorce is final and {ex} and I can't agree on anything about {kid}. {kid} is "
            "{age} "
            "and keeps asking why we fight.",
            "Every handover with {ex} turns into an argument in front of {kid}, who is only {age}.",
        ],
        "followups": [
            "{ex} lets {kid} stay up late and then I'm the bad parent.",
            "I feel like I'm failing {kid}.",
            "Should I go to mediation or is that giving in?",
            "I cried in the car after the last handover.",
        ],
        "facts": [
            "What harms children most after divorce is ongoing conflict they witness, more than "
            "different rules in two homes.",
            "Moving handovers to neutral places such as school gates reduces face-to-face "
            "friction.",
            "Mediation is not giving in; it is a structured way to reach agreements both parents "
            "can live with.",
            "Children of {age} cope better with a simple, repeated message: both parents love you "
            "and the divorce is not your fault.",
        ],
        "steps": [
            "propose handovers at school on Fridays",
            "use a shared calendar app for plans so fewer talks happen in person",
            "book one mediation session to try it",
        ],
        "feeling": ["strain", "guilt and anger", "heartache"],
        "situation": [
            "constant fights with {ex} in front of {kid}",
            "co-parenting a {age}-year-old right after the divorce",
        ],
        "question": [
            "How does {kid} seem after a handover?",
            "What would make the handovers feel safer for you?",
        ],
        "offer": [
            "draft a calm message to {ex} about handovers",
            "suggest words to use with {kid}",
        ],
    },
    {
        "key": "child_bullied",
        "cluster": DISTRESS,
        "slots": {
            "kid": ["son", "daughter"],
            "grade": ["year five", "seventh grade", "year eight"],
            "weeks": ["three", "six", "two"],
        },
        "openers": [
            "My {kid} is being bullied in {grade} and the school says they're 'monitoring it'. "
            "It's been "
            "{weeks} weeks.",
            "Found out tonight that my {kid} has been getting nasty messages from classmates for "
            "{weeks} weeks. I'm furious.",
        ],
        "followups": [
            "They begged me not to tell the school.",
            "I want to call the other parents myself.",
            "They've stopped eating lunch.",
            "I feel like I should have noticed sooner.",
        ],
        "facts": [
            "Schools are required to have an anti-bullying policy; asking for it in writing and "
            "for a named contact moves things along.",
            "Keeping screenshots with dates builds a record the school cannot wave away.",
            "Contacting other parents directly often escalates things; going through the school "
            "is usually safer for your child.",
            "Changes in eating and sleep are signs to share with the GP or school counsellor.",
        ],
        "steps": [
            "screenshot and date every message",
            "email the head of year asking for a meeting and the written policy",
            "agree with your {kid} what you will and won't say to the school",
        ],
        "feeling": ["anger", "worry and guilt", "protective fury"],
        "situation": [
            "your {kid} being bullied for {weeks} weeks in {grade}",
            "a school that only says it is monitoring things",
        ],
        "question": [
            "How is your {kid} sleeping at the moment?",
            "What did your {kid} say they want to happen?",
        ],
        "offer": ["draft the email to the head of year", "help you plan the talk with your {kid}"],
    },
    {
        "key": "insomnia_worry",
        "cluster": DISTRESS,
        "slots": {"hour": ["3am", "4am", "2am"], "worry": ["money", "health", "the kids", "work"]},
        "openers": [
            "Every night I wake at {hour} and my brain starts spinning about {worry}. I'm running "
            "on "
            "fumes.",
            "Haven't slept properly in weeks. {hour} wake-ups, thinking about {worry} on a loop.",
        ],
        "followups": [
            "I've tried melatonin and it didn't do much.",
            "I'm so tired I snapped at my partner this morning.",
            "Is it bad that I check my phone when I wake up?",
            "I'm scared this is just how life is now.",
        ],
        "facts": [
            "Waking in the early hours with racing thoughts is a classic pattern of stress-related "
            "insomnia and usually improves when the stress is addressed.",
            "Getting up after about twenty minutes awake and doing something dull in dim light "
            "helps the brain relearn that bed means sleep.",
            "Phone screens and notifications at {hour} wake the mind up further.",
            "A 'worry slot' in the early evening, writing concerns down with one next step each, "
            "reduces night-time rumination for many people.",
            "CBT for insomnia has better long-term results than sleep medication.",
        ],
        "steps": [
            "keep the phone outside the bedroom tonight",
            "write a fifteen-minute worry list at 7pm",
            "get up after twenty minutes awake and read something boring",
        ],
        "feeling": ["exhaustion", "worry", "worn-out frustration"],
        "situation": ["waking at {hour} worrying about {worry}", "weeks of broken sleep"],
        "question": [
            "What is the worry about {worry} that comes back most?",
            "How are you managing during the day?",
        ],
        "offer": [
            "set up a simple wind-down routine with you",
            "help you turn the {worry} worries into a list",
        ],
    },
    {
        "key": "wedding_family_tension",
        "cluster": DISTRESS,
        "slots": {
            "rel": ["mother", "sister", "father"],
            "partner": ["Jamie", "Aisha", "Chris", "Elena"],
            "months": ["three", "five", "two"],
        },
        "openers": [
            "The wedding is in {months} months and my {rel} says they won't come if {partner}'s "
            "family "
            "sits at the front.",
            "I'm supposed to be happy but my {rel} is making the wedding planning miserable for me "
            "and {partner}.",
        ],
        "followups": [
            "{partner} says I always take my family's side.",
            "Part of me wants to just elope.",
            "I've stopped answering my {rel}'s calls.",
            "I feel torn in half.",
        ],
        "facts": [
            "Weddings often bring old family dynamics to the surface, and seating fights are "
            "usually about feeling valued rather than chairs.",
            "Agreeing on decisions as a couple first, then telling family together, prevents you "
            "from being the go-between.",
            "A clear, kind boundary, for example 'the seating is decided, we hope you'll be "
            "there', is firmer than arguing each point.",
            "Eloping or a smaller ceremony is a legitimate option, not a failure.",
        ],
        "steps": [
            "sit down with {partner} and agree on three non-negotiables",
            "reply to your {rel} once, in writing, with the decided plan",
            "ask a neutral relative to help calm things",
        ],
        "feeling": ["stress", "inner conflict", "hurt and frustration"],
        "situation": [
            "your {rel}'s ultimatum {months} months before the wedding",
            "being caught between your {rel} and {partner}",
        ],
        "question": [
            "What do you and {partner} want the day to feel like?",
            "What do you think your {rel} is really afraid of?",
        ],
        "offer": [
            "draft a kind but firm reply to your {rel}",
            "list your options including a smaller ceremony",
        ],
    },
    {
        "key": "debt_shame",
        "cluster": DISTRESS,
        "slots": {
            "amount": ["8,000", "14,500", "22,000", "5,300"],
            "partner": ["wife", "husband", "partner"],
        },
        "openers": [
            "I have {amount} in credit card debt and my {partner} doesn't know. I feel sick every "
            "time "
            "the post comes.",
            "Debt of {amount} and growing. I'm ashamed to even type that.",
        ],
        "followups": [
            "I took a new card to pay the old one.",
            "I'm scared my {partner} will leave me.",
            "The interest alone is eating my salary.",
            "I can't even open the statements anymore.",
        ],
        "facts": [
            "Free debt charities can negotiate with lenders and set up affordable repayment plans; "
            "they see debts like {amount} every day.",
            "Paying one card with another usually adds fees and keeps the balance growing.",
            "Listing every debt with its interest rate lets you target the most expensive one "
            "first, the so-called avalanche method.",
            "Hidden debt tends to weigh on a relationship more than the number itself once it is "
            "shared.",
        ],
        "steps": [
            "open the statements and write each balance and rate in one table",
            "call a free debt advice line this week",
            "choose a calm moment to tell your {partner}, with the table in hand",
        ],
        "feeling": ["shame", "fear and shame", "dread"],
        "situation": [
            "carrying {amount} of debt without telling your {partner}",
            "dreading every letter that arrives",
        ],
        "question": [
            "What do you imagine your {partner} would say?",
            "When did it start to get out of hand?",
        ],
        "offer": [
            "help you build the debt table",
            "think through how to start the talk with your {partner}",
        ],
    },
    {
        "key": "caregiver_exhaustion",
        "cluster": DISTRESS,
        "slots": {
            "rel": ["mum", "husband", "dad", "grandfather"],
            "years": ["two", "three", "five"],
        },
        "openers": [
            "I've been caring for my {rel} for {years} years. I love them but I'm so tired I want "
            "to "
            "scream.",
            "Caring for my {rel} full time for {years} years now. No one asks how I am anymore.",
        ],
        "followups": [
            "I feel guilty even thinking about respite care.",
            "My own doctor appointments keep getting cancelled.",
            "Friends stopped inviting me because I always say no.",
            "Yesterday I lost my temper with my {rel} and hated myself.",
        ],
        "facts": [
            "Carer burnout is common after years of full-time care and shows up as exhaustion, "
            "irritability and losing touch with friends.",
            "Respite care exists precisely so carers can keep going; using it is part of good "
            "care.",
            "Carer's assessments from the local council can unlock paid help and breaks.",
            "Losing your temper once under this strain does not make you a bad carer.",
        ],
        "steps": [
            "request a carer's assessment from the council",
            "book your own doctor's appointment and protect it",
            "say yes to one short invitation from a friend",
        ],
        "feeling": ["exhaustion", "guilt and tiredness", "invisibility"],
        "situation": ["{years} years of caring for your {rel} alone", "no one asking how you are"],
        "question": [
            "When did you last have a full day to yourself?",
            "Who else could share part of the care?",
        ],
        "offer": ["outline how a carer's assessment works", "help you plan one break a week"],
    },
    {
        "key": "homesick_student",
        "cluster": DISTRESS,
        "slots": {
            "uni": ["Edinburgh", "Toronto", "Melbourne", "Utrecht"],
            "home": ["Lagos", "Manila", "a small town in Ohio", "Seoul"],
            "weeks": ["six", "three", "five"],
        },
        "openers": [
            "I started uni in {uni} {weeks} weeks ago and I miss home in {home} so much I cry "
            "every "
            "night.",
            "Everyone at {uni} seems to be having the best time and I just want to go back to "
            "{home}.",
        ],
        "followups": [
            "I'm thinking of dropping out.",
            "Calling my parents makes it worse afterwards.",
            "The food here is so different.",
            "I haven't been to a single society event.",
        ],
        "facts": [
            "Homesickness peaks in the first two months of university and fades for most students "
            "by the second term.",
            "Social media makes others' first weeks look easier than they are; many feel exactly "
            "like you.",
            "Universities have student support and often international student groups that run "
            "small, low-pressure events.",
            "Cooking a familiar dish from {home} can be a surprisingly strong comfort.",
        ],
        "steps": [
            "go to one small society event this week, even for thirty minutes",
            "book a chat with student support before deciding about dropping out",
            "cook something from {home} and invite a flatmate",
        ],
        "feeling": ["homesickness", "loneliness and sadness", "longing for home"],
        "situation": [
            "being {weeks} weeks into {uni}, far from {home}",
            "crying every night after calls home",
        ],
        "question": [
            "What do you miss most about {home}?",
            "Is there anyone on your course you've talked to a bit?",
        ],
        "offer": ["look at what support {uni} offers", "make a small plan for this week"],
    },
    # ------------------------------------------------------------------ learning skills
    {
        "key": "python_loops",
        "cluster": LEARNING,
        "slots": {"var": ["scores", "prices", "names", "temps"], "n": ["10", "50", "100"]},
        "openers": [
            "I'm learning Python. How do I loop over my list {var} and only print the ones above "
            "{n}?",
            "python question: for loop vs while loop?? my list is called {var} and i keep getting "
            "an infinite loop",
        ],
        "followups": [
            "What does enumerate do?",
            "Why does changing the list inside the loop break things?",
            "Is a list comprehension faster?",
            "I still don't get range(len({var})).",
        ],
        "facts": [
            "Use `for x in {var}: if x > {n}: print(x)`; a for loop walks the list once and "
            "cannot run forever.",
            "A while loop needs its condition to become false; forgetting to update the counter "
            "is the usual cause of an infinite loop.",
            "`enumerate({var})` gives pairs of (index, value), so you rarely need "
            "`range(len({var}))`.",
            "Removing items from a list while looping over it skips elements; build a new list "
            "instead, e.g. `[x for x in {var} if x > {n}]`.",
            "List comprehensions are usually a little faster and read well for simple filters.",
        ],
        "steps": [
            "rewrite your loop as `for x in {var}:` and print inside it",
            "add a print of the counter inside the while loop to see why it never stops",
            "try the list comprehension in the interactive shell",
        ],
        "feeling": ["frustration", "confusion", "helplessness"],
        "situation": ["the infinite loop over {var}", "filtering {var} above {n}"],
        "question": [
            "Can you paste the loop you have now?",
            "What do you want to do with the filtered values next?",
        ],
        "offer": ["walk through your code line by line", "give you three small exercises on loops"],
    },
    {
        "key": "chess_openings",
        "cluster": LEARNING,
        "slots": {
            "rating": ["900", "1200", "1450", "700"],
            "opening": ["the Italian", "the London System", "the Sicilian", "the Caro-Kann"],
        },
        "openers": [
            "I'm rated {rating} online. Should I learn {opening} or is that too advanced?",
            "keep losing in the first 10 moves. rated {rating}. thinking of studying {opening}",
        ],
        "followups": [
            "How many moves of theory should I memorise?",
            "What do I do when my opponent plays something weird?",
            "Is it worth doing puzzles every day?",
            "I blunder my queen a lot.",
        ],
        "facts": [
            "At {rating}, games are mostly decided by tactics, so principles matter more than deep "
            "theory: control the centre, develop knights and bishops, castle early.",
            "Learning the first five or six moves of {opening} and the ideas behind them is "
            "plenty at this level.",
            "Against unusual moves, fall back on principles rather than trying to refute them.",
            "Daily tactics puzzles, even fifteen minutes, are the fastest way to stop losing "
            "pieces.",
            "Before each move, check what your opponent's last move attacks; that habit alone "
            "cuts queen blunders sharply.",
        ],
        "steps": [
            "play ten games with {opening} and review the first ten moves of each",
            "do fifteen minutes of puzzles each day for two weeks",
            "say 'what does that attack?' before every move",
        ],
        "feeling": ["frustration", "discouragement", "annoyance"],
        "situation": ["losing early at {rating}", "choosing {opening} as a first opening"],
        "question": [
            "How do you usually lose the queen, to a fork or a pin?",
            "Do you prefer quiet positions or sharp attacks?",
        ],
        "offer": ["sketch a two-week study plan", "explain the main ideas of {opening}"],
    },
    {
        "key": "spanish_subjunctive",
        "cluster": LEARNING,
        "slots": {
            "months": ["six", "eight", "three"],
            "trip": ["Madrid", "Mexico City", "Buenos Aires", "Valencia"],
        },
        "openers": [
            "I've studied Spanish for {months} months and the subjunctive makes no sense to me. "
            "I'm going to {trip} soon.",
            "When do I use subjunctive in spanish?? my teacher's explanation went over my head",
        ],
        "followups": [
            "Why is it 'espero que vengas' and not 'vienes'?",
            "Do people in {trip} actually use it in speech?",
            "Is there a trick to remember the endings?",
            "What about after 'cuando'?",
        ],
        "facts": [
            "The subjunctive appears after expressions of wishes, doubt, emotion or requests "
            "about someone else: 'espero que vengas' means I hope that you come.",
            "Native speakers in {trip} use it constantly in everyday speech, so it is worth the "
            "effort.",
            "A common trick: take the yo form, drop the -o, and swap the vowel: hablo becomes "
            "hable, como becomes coma.",
            "After 'cuando' you use the subjunctive for future events ('cuando llegues') and the "
            "indicative for habits ('cuando llego').",
        ],
        "steps": [
            "learn five fixed phrases such as 'espero que' and 'ojalá que'",
            "write three sentences a day about your plans in {trip} using 'cuando'",
            "practise the vowel-swap rule with ten common verbs",
        ],
        "feeling": ["confusion", "frustration", "overwhelm"],
        "situation": [
            "{months} months of Spanish and the subjunctive still unclear",
            "the trip to {trip}",
        ],
        "question": [
            "Which situations in {trip} do you most want to handle in Spanish?",
            "Do you learn better from rules or from examples?",
        ],
        "offer": ["give you a short practice set", "explain the 'cuando' rule with more examples"],
    },
    {
        "key": "statistics_pvalues",
        "cluster": LEARNING,
        "slots": {
            "p": ["0.03", "0.07", "0.049", "0.12"],
            "course": ["psych stats", "a biostatistics module", "an intro data science course"],
        },
        "openers": [
            "I'm taking {course}. My test gave p = {p}. What does that actually mean?",
            "Can someone explain p-values like I'm five. Got p={p} and my tutor said don't say "
            "'probability the null is true'.",
        ],
        "followups": [
            "So is p = {p} significant or not?",
            "What's the difference with a confidence interval?",
            "Why 0.05 of all numbers?",
            "What's effect size then?",
        ],
        "facts": [
            "A p-value of {p} means: if there were truly no effect, data at least this extreme "
            "would appear about {p} of the time.",
            "It is not the probability that the null hypothesis is true; that is the common "
            "misreading your tutor warned about.",
            "The 0.05 threshold is a convention, not a law of nature; many fields now report exact "
            "p-values and intervals instead.",
            "A confidence interval shows the range of effect sizes compatible with the data, "
            "which tells you more than significance alone.",
            "Effect size measures how big the difference is; a tiny effect can be significant "
            "with a large sample.",
        ],
        "steps": [
            "write one sentence interpreting p = {p} in the 'if there were no effect' form",
            "compute the confidence interval for the same test",
            "report the effect size beside the p-value",
        ],
        "feeling": ["confusion", "frustration", "uncertainty"],
        "situation": [
            "interpreting p = {p} in {course}",
            "your tutor's warning about the usual definition",
        ],
        "question": ["What test produced the p = {p}?", "Is this for an assignment or an exam?"],
        "offer": ["go through your output with you", "give you two practice interpretations"],
    },
    {
        "key": "guitar_barre",
        "cluster": LEARNING,
        "slots": {"chord": ["F major", "B minor", "B flat"], "weeks": ["two", "five", "three"]},
        "openers": [
            "I've been practising the {chord} barre chord for {weeks} weeks and it still buzzes.",
            "barre chords hurt. {chord} just sounds dead. {weeks} weeks in. normal??",
        ],
        "followups": [
            "My thumb gets really sore.",
            "Should I lower the action on my guitar?",
            "How long did it take other people?",
            "Can I skip barre chords?",
        ],
        "facts": [
            "Buzzing on {chord} usually comes from the index finger pressing with its soft "
            "middle; roll it slightly so the bony edge does the work.",
            "Pressing just behind the fret needs far less force than pressing in the middle.",
            "A sore thumb means you are squeezing; use arm weight pulling back instead of thumb "
            "pressure.",
            "High action makes barre chords much harder; a setup at a shop is cheap and often "
            "fixes it.",
            "Most people need one to three months before barre chords sound clean.",
        ],
        "steps": [
            "play {chord} slowly string by string to find the buzzing one",
            "practise two minutes at a time several times a day",
            "try the chord at the fifth fret first, where it is easier",
        ],
        "feeling": ["frustration", "discouragement", "impatience"],
        "situation": ["{weeks} weeks on {chord} with buzzing", "sore hands from barre practice"],
        "question": ["Which string buzzes most?", "What song are you working towards?"],
        "offer": ["give you a short daily routine", "suggest easier voicings meanwhile"],
    },
    {
        "key": "sql_joins",
        "cluster": LEARNING,
        "slots": {
            "t1": ["orders", "students", "employees"],
            "t2": ["customers", "courses", "departments"],
        },
        "openers": [
            "I don't understand SQL joins. I have tables {t1} and {t2} and my query returns way "
            "too "
            "many rows.",
            "LEFT JOIN vs INNER JOIN? joining {t1} to {t2} and some rows disappear",
        ],
        "followups": [
            "Why do rows disappear with INNER JOIN?",
            "How do I find {t1} with no match?",
            "What causes the duplicate rows?",
            "When would I use a FULL OUTER JOIN?",
        ],
        "facts": [
            "INNER JOIN keeps only rows with a match in both {t1} and {t2}; rows without a match "
            "disappear.",
            "LEFT JOIN keeps every row of {t1} and fills NULL where {t2} has no match.",
            "Too many rows usually means the join key is not unique in {t2}, so each {t1} row "
            "matches several.",
            "To find unmatched rows: LEFT JOIN and then `WHERE {t2}.id IS NULL`.",
            "FULL OUTER JOIN keeps unmatched rows from both sides, useful for reconciling two "
            "lists.",
        ],
        "steps": [
            "count rows per key in {t2} with GROUP BY to check uniqueness",
            "run the query with LEFT JOIN and look for NULLs",
            "add the join condition explicitly with ON rather than in WHERE",
        ],
        "feeling": ["confusion", "frustration", "helplessness"],
        "situation": ["joining {t1} to {t2}", "the query returning too many rows"],
        "question": [
            "Can you share the ON condition you're using?",
            "Which key links {t1} and {t2}?",
        ],
        "offer": ["rewrite the query with you", "draw the join as a small table example"],
    },
    {
        "key": "derivatives",
        "cluster": LEARNING,
        "slots": {
            "f": ["x^2 sin x", "e^(3x)", "ln(x^2+1)", "(2x+1)^5"],
            "test": ["Friday", "next Tuesday", "Monday"],
        },
        "openers": [
            "How do I differentiate {f}? Calc test {test} and I always mess up the rules.",
            "chain rule vs product rule. when do i use which. example {f}",
        ],
        "followups": [
            "Why do we multiply by the inside derivative?",
            "How do I check my answer?",
            "What about quotient rule?",
            "I mix up the signs a lot.",
        ],
        "facts": [
            "Use the product rule when two functions are multiplied and the chain rule when one "
            "function sits inside another.",
            "For {f}, identify the outer and inner parts first, then apply the rules one layer "
            "at a time.",
            "The chain rule multiplies by the inner derivative because the inner function changes "
            "the speed at which the outer one moves.",
            "You can check a derivative numerically: compare (f(x+h) - f(x))/h for a small h with "
            "your formula at one point.",
            "The quotient rule is low d-high minus high d-low over low squared; or rewrite the "
            "quotient as a product with a negative power.",
        ],
        "steps": [
            "label the outer and inner functions before differentiating",
            "do five mixed practice problems and check each numerically",
            "write the rule you used next to each line",
        ],
        "feeling": ["stress", "confusion", "frustration"],
        "situation": ["differentiating {f}", "the calc test on {test}"],
        "question": ["Which step of {f} goes wrong for you?", "Can you show me your working?"],
        "offer": ["work through {f} step by step", "make a short drill set before {test}"],
    },
    {
        "key": "touch_typing",
        "cluster": LEARNING,
        "slots": {"wpm": ["25", "35", "40"], "goal": ["60", "70", "80"]},
        "openers": [
            "I type at {wpm} words per minute with two fingers. How do I get to {goal}?",
            "Trying to learn touch typing. stuck at {wpm} wpm and I keep looking at the keys",
        ],
        "followups": [
            "Should I practise speed or accuracy first?",
            "How long per day?",
            "My old habits keep coming back at work.",
            "Is a special keyboard worth it?",
        ],
        "facts": [
            "Accuracy first: speed rises on its own once errors drop, while fast sloppy practice "
            "bakes in mistakes.",
            "Going from {wpm} to {goal} typically takes a few weeks of twenty minutes a day.",
            "A speed dip during the switch from two fingers is normal; most people recover their "
            "old speed within two or three weeks.",
            "Covering your hands with a cloth is an old but effective trick to stop looking.",
            "A special keyboard is not needed; a comfortable chair height matters more.",
        ],
        "steps": [
            "practise twenty minutes a day on home-row drills",
            "keep accuracy above 95 percent before pushing speed",
            "use touch typing for emails only at first",
        ],
        "feeling": ["impatience", "frustration"],
        "situation": ["moving from {wpm} to {goal} wpm", "old two-finger habits coming back"],
        "question": [
            "What do you mostly type, code or prose?",
            "How much time can you give it daily?",
        ],
        "offer": ["plan a four-week schedule", "suggest drills for your weak keys"],
    },
    {
        "key": "drawing_perspective",
        "cluster": LEARNING,
        "slots": {
            "subject": ["a street scene", "a kitchen interior", "a city skyline", "a staircase"],
            "points": ["one", "two"],
        },
        "openers": [
            "I'm teaching myself to draw and {subject} always looks wrong. Should I use "
            "{points}-point "
            "perspective?",
            "perspective drawing help. {subject} looks flat and wonky",
        ],
        "followups": [
            "Where should I put the horizon line?",
            "Why do my boxes look stretched?",
            "How do I draw circles in perspective?",
            "Should I use a ruler?",
        ],
        "facts": [
            "Use one-point perspective when you face a surface straight on and two-point when you "
            "see a corner.",
            "The horizon line sits at your eye level; everything above it is seen from below.",
            "Boxes look stretched when vanishing points are too close together; spread them wide, "
            "even off the page.",
            "Circles in perspective become ellipses; sketch a square in perspective first and fit "
            "the ellipse inside.",
            "A ruler is fine while learning; freehand lines come with practice.",
        ],
        "steps": [
            "draw {subject} with the vanishing points placed off the page",
            "fill a page with twenty boxes in {points}-point perspective",
            "mark your eye level first, then build from it",
        ],
        "feeling": ["frustration", "discouragement"],
        "situation": ["drawing {subject}", "drawings that look flat and wonky"],
        "question": [
            "Are you drawing from life or from photos?",
            "Can you describe where you put the vanishing points?",
        ],
        "offer": ["set you a short exercise series", "explain ellipses in more detail"],
    },
    {
        "key": "sight_reading",
        "cluster": LEARNING,
        "slots": {
            "grade": ["grade three", "grade five", "grade one"],
            "exam": ["in March", "in six weeks", "next term"],
        },
        "openers": [
            "Sight reading on piano is my weak spot. {grade} exam {exam}. I panic at the first "
            "wrong note.",
            "how do u get better at sight reading piano. {grade}, exam {exam}",
        ],
        "followups": [
            "Should I stop when I make a mistake?",
            "How do I read ahead?",
            "Is it ok to look at my hands?",
            "What should I check before starting?",
        ],
        "facts": [
            "In sight reading the rule is to keep the pulse going; skipping a wrong note is better "
            "than stopping.",
            "Before playing, scan for key signature, time signature, and the highest and lowest "
            "notes: about thirty seconds well spent.",
            "Reading ahead is trained by covering the bar you are playing with a card.",
            "Glancing at your hands is fine for leaps, but aim to feel positions from the black "
            "keys.",
            "Short daily sessions with easy material beat long sessions with hard pieces.",
        ],
        "steps": [
            "sight read one easy piece a day, never the same one twice",
            "play with a metronome and do not stop for mistakes",
            "do the thirty-second scan out loud before every piece",
        ],
        "feeling": ["nerves", "anxiety", "panic"],
        "situation": ["the {grade} exam {exam}", "panicking after one wrong note"],
        "question": [
            "What level of pieces do you practise with?",
            "What happens in your head after a wrong note?",
        ],
        "offer": ["plan a daily routine until the exam", "list good easy books"],
    },
    {
        "key": "git_branches",
        "cluster": LEARNING,
        "slots": {
            "branch": ["feature/login", "fix-typo", "dev", "experiment"],
            "team": ["three", "five", "two"],
        },
        "openers": [
            "Learning git. I made a branch {branch} and now I have no idea how to get my changes "
            "back into main.",
            "git merge vs rebase??? team of {team}, branch {branch}, I'm terrified of breaking "
            "main",
        ],
        "followups": [
            "What is a merge conflict exactly?",
            "Should I delete the branch afterwards?",
            "What does 'detached HEAD' mean?",
            "How do I undo a commit?",
        ],
        "facts": [
            "To bring {branch} into main: `git switch main`, `git pull`, then `git merge "
            "{branch}`.",
            "Rebase rewrites your branch's commits on top of main; do it only on branches nobody "
            "else uses.",
            "A merge conflict means both branches changed the same lines; git marks them and you "
            "choose the final text.",
            "Deleting {branch} after merging with `git branch -d {branch}` is safe; the commits "
            "stay in main.",
            "`git revert <commit>` undoes a commit safely by adding a new one, which is right for "
            "shared branches.",
        ],
        "steps": [
            "practise merging in a throwaway repository first",
            "run `git status` before and after every command",
            "open a pull request instead of merging locally",
        ],
        "feeling": ["anxiety", "confusion", "fear of breaking things"],
        "situation": ["getting {branch} back into main", "a team of {team} sharing main"],
        "question": ["What does `git status` show right now?", "Does your team use pull requests?"],
        "offer": ["walk you through a merge step by step", "explain conflicts with a tiny example"],
    },
    {
        "key": "japanese_kana",
        "cluster": LEARNING,
        "slots": {"weeks": ["two", "three", "six"], "script": ["katakana", "hiragana"]},
        "openers": [
            "I'm learning Japanese and {script} is killing me. {weeks} weeks and I mix up half the "
            "characters.",
            "best way to memorise {script}? {weeks} weeks in and シ and ツ look the same to me",
        ],
        "followups": [
            "Should I learn kanji at the same time?",
            "Is romaji ok to use for now?",
            "How many per day?",
            "How do I tell similar ones apart?",
        ],
        "facts": [
            "Most learners mix up lookalike pairs such as シ (shi) and ツ (tsu): shi's strokes go "
            "up from the left, tsu's come down from the top.",
            "Spaced repetition flashcards with about ten new characters a day finish a script in "
            "under three weeks.",
            "Dropping romaji early forces you to read kana and speeds up learning.",
            "Kanji can wait until both kana scripts are solid.",
            "Writing each character by hand with the right stroke order makes it stick better "
            "than only reading.",
        ],
        "steps": [
            "add ten {script} cards a day to a spaced repetition deck",
            "write each lookalike pair side by side five times",
            "read simple signs or menus in {script} daily",
        ],
        "feeling": ["frustration", "overwhelm"],
        "situation": ["{weeks} weeks of {script}", "mixing up lookalike characters"],
        "question": ["Which characters trip you up most?", "Why are you learning Japanese?"],
        "offer": ["list the lookalike pairs with memory hooks", "plan the next three weeks"],
    },
    {
        "key": "excel_lookup",
        "cluster": LEARNING,
        "slots": {"sheet": ["Prices", "Staff", "Inventory"], "rows": ["2,000", "500", "12,000"]},
        "openers": [
            "How do I look up a value from my {sheet} sheet in Excel? VLOOKUP keeps returning "
            "#N/A.",
            "XLOOKUP or VLOOKUP? {rows} rows in {sheet}, half the results are #N/A",
        ],
        "followups": [
            "Why #N/A when the value is clearly there?",
            "What's the difference with INDEX/MATCH?",
            "How do I lock the range?",
            "It's really slow on {rows} rows.",
        ],
        "facts": [
            "#N/A with visible matches is usually trailing spaces or numbers stored as text; "
            "TRIM and VALUE fix most cases.",
            "XLOOKUP searches any column and defaults to exact match; VLOOKUP needs the key in the "
            "first column and FALSE as the last argument.",
            "INDEX/MATCH does the same as XLOOKUP in older Excel versions.",
            "Lock the lookup range with dollar signs, e.g. {sheet}!$A$2:$C$9999, so it does not "
            "shift when you fill down.",
            "On {rows} rows, exact-match lookups over whole columns are slow; limit the range.",
        ],
        "steps": [
            "wrap the lookup value in TRIM to test the spaces theory",
            "switch to XLOOKUP with exact match",
            "press F4 on the range to add the dollar signs",
        ],
        "feeling": ["frustration", "annoyance"],
        "situation": ["the #N/A results from {sheet}", "{rows} rows of lookups"],
        "question": ["Which Excel version do you have?", "Can you share the exact formula?"],
        "offer": ["rewrite the formula with you", "show the INDEX/MATCH version"],
    },
    {
        "key": "photo_exposure",
        "cluster": LEARNING,
        "slots": {
            "camera": ["a first mirrorless camera", "an old DSLR", "a Fuji X-T30"],
            "scene": ["indoor birthday parties", "sunsets", "kids' football games"],
        },
        "openers": [
            "Just got {camera}. My photos of {scene} are always too dark or blurry. What should I "
            "change?",
            "aperture shutter ISO... I don't get it. {scene} photos come out blurry",
        ],
        "followups": [
            "What does f/1.8 mean?",
            "Is high ISO bad?",
            "Should I shoot in manual?",
            "What shutter speed for moving people?",
        ],
        "facts": [
            "Exposure is a triangle: aperture (f-number), shutter speed and ISO trade off against "
            "each other.",
            "Blur from motion at {scene} needs a faster shutter, around 1/500 s for sports and "
            "1/125 s for people indoors.",
            "A small f-number like f/1.8 is a wide opening: more light and a blurrier background.",
            "High ISO adds noise, but a sharp noisy photo beats a clean blurry one.",
            "Shutter priority mode lets you pick the speed while the camera handles the rest.",
        ],
        "steps": [
            "set shutter priority at 1/250 s and auto ISO",
            "take the same shot at three ISO values and compare",
            "open the aperture to the smallest f-number your lens allows",
        ],
        "feeling": ["frustration", "disappointment"],
        "situation": ["blurry shots of {scene}", "learning {camera}"],
        "question": [
            "Which lens came with the camera?",
            "What kind of photos do you most want to get right?",
        ],
        "offer": ["suggest settings for {scene}", "explain the exposure triangle with an example"],
    },
    {
        "key": "knitting",
        "cluster": LEARNING,
        "slots": {
            "item": ["a scarf", "a hat", "a baby blanket"],
            "stitch": ["purl", "cast on", "knit two together"],
        },
        "openers": [
            "I'm a beginner knitter making {item}. My edges are uneven and I can't get the "
            "{stitch} "
            "right.",
            "knitting {item}, tension all over the place, {stitch} makes no sense",
        ],
        "followups": [
            "How do I fix a dropped stitch?",
            "Which needles should a beginner use?",
            "Why is my work getting wider?",
            "Can I unpick it without ruining it?",
        ],
        "facts": [
            "Uneven edges usually come from the first stitch of each row; slipping it gives a "
            "neat chain edge.",
            "Work getting wider means accidental extra stitches, often from the yarn going over "
            "the needle at the row start; count stitches every few rows.",
            "A dropped stitch can be picked up with a crochet hook, laddering it back up row by "
            "row.",
            "Wooden or bamboo needles in a medium size, around 5 mm, are forgiving for beginners.",
            "Threading a lifeline of spare yarn through a row lets you unpick safely back to it.",
        ],
        "steps": [
            "count your stitches at the end of every row for a while",
            "practise the {stitch} on a small test square",
            "slip the first stitch of each row",
        ],
        "feeling": ["frustration", "discouragement"],
        "situation": ["knitting {item}", "struggling with the {stitch}"],
        "question": ["What yarn are you using?", "Is the {item} a gift?"],
        "offer": ["describe the {stitch} in small steps", "suggest an easy practice pattern"],
    },
    # ------------------------------------------------------- work / career / self-improvement
    {
        "key": "raise_request",
        "cluster": CAREER,
        "slots": {
            "years": ["two", "three", "four"],
            "pct": ["8", "10", "12"],
            "manager": ["Karen", "Mr Osei", "Lukas", "Beatriz"],
        },
        "openers": [
            "I haven't had a raise in {years} years. I want to ask {manager} for {pct}% but I'm "
            "nervous.",
            "how do I ask for a raise?? {years} years same pay. boss is {manager}",
        ],
        "followups": [
            "What if {manager} says there's no budget?",
            "Should I mention another offer?",
            "When is the best time to ask?",
            "What numbers should I bring?",
        ],
        "facts": [
            "Anchor the request in evidence: market data for your role and a list of results "
            "since your last raise.",
            "Ask in a scheduled meeting a few weeks before budgets are set, not in passing.",
            "If {manager} says there is no budget, ask what would need to be true for a raise in "
            "six months and get it in writing.",
            "Mention another offer only if you are ready to take it.",
            "Asking for {pct}% after {years} years without an increase is within normal ranges in "
            "many fields.",
        ],
        "steps": [
            "write down five results with numbers from the last {years} years",
            "book a thirty-minute meeting with {manager}",
            "rehearse your opening sentence out loud",
        ],
        "feeling": ["nervousness", "anxiety", "frustration"],
        "situation": ["{years} years without a raise", "asking {manager} for {pct}%"],
        "question": [
            "How does {manager} usually react to direct requests?",
            "What are you proudest of from the last year?",
        ],
        "offer": [
            "draft the opening lines for the meeting",
            "role-play {manager}'s likely objections",
        ],
    },
    {
        "key": "burnout",
        "cluster": CAREER,
        "slots": {
            "hours": ["60", "55", "70"],
            "role": ["nurse", "software engineer", "teacher", "project manager"],
        },
        "openers": [
            "I'm a {role} working {hours} hours a week and I've started dreading Mondays on Friday "
            "evening. Is this burnout?",
            "{hours} hrs/week as a {role}. I feel nothing anymore. cynical about everything",
        ],
        "followups": [
            "I can't just quit, I have a mortgage.",
            "How do I tell my manager without looking weak?",
            "I used to love this job.",
            "Would a holiday fix it?",
        ],
        "facts": [
            "Burnout is usually described by three signs: exhaustion, cynicism towards the work, "
            "and a sense of not achieving anything.",
            "A holiday helps for a while, but if the workload stays at {hours} hours, the effect "
            "fades within weeks.",
            "Talking to a manager works best framed around sustainability and quality of work, "
            "with a concrete proposal.",
            "Occupational health or a GP can document burnout and support adjustments.",
        ],
        "steps": [
            "track your hours and energy for one week",
            "propose one concrete change to your manager, such as protected focus days",
            "book a GP appointment to talk about it",
        ],
        "feeling": ["exhaustion", "numbness", "dread"],
        "situation": ["{hours}-hour weeks as a {role}", "dreading Monday already on Friday"],
        "question": [
            "What part of the work used to energise you?",
            "What would you drop first if you could?",
        ],
        "offer": ["help you frame the talk with your manager", "map which tasks drain you most"],
    },
    {
        "key": "interview_prep",
        "cluster": CAREER,
        "slots": {
            "company": [
                "a fintech startup",
                "the city council",
                "a large retailer",
                "a hospital trust",
            ],
            "day": ["Thursday", "Monday", "tomorrow"],
        },
        "openers": [
            "I have an interview at {company} on {day}. How do I answer 'tell me about yourself' "
            "without rambling?",
            "interview {day} with {company}, I always freeze at 'what's your weakness'",
        ],
        "followups": [
            "What's the STAR method?",
            "What questions should I ask them?",
            "How do I explain a gap in my CV?",
            "Should I follow up afterwards?",
        ],
        "facts": [
            "For 'tell me about yourself', use present, past, future: what you do now, what led "
            "you here, why this role, in under ninety seconds.",
            "STAR means Situation, Task, Action, Result; keep most of the time on Action and "
            "Result.",
            "For the weakness question, pick a real but manageable weakness and show what you are "
            "doing about it.",
            "A CV gap is best explained briefly and honestly, then steered to what you learned or "
            "are ready for now.",
            "A short thank-you email within a day is a good follow-up.",
        ],
        "steps": [
            "write your ninety-second intro and time it",
            "prepare three STAR stories from your last job",
            "list two questions about the team at {company}",
        ],
        "feeling": ["nerves", "anxiety", "pressure"],
        "situation": ["the interview at {company} on {day}", "freezing on the weakness question"],
        "question": [
            "What is the role you're interviewing for?",
            "Which question worries you most?",
        ],
        "offer": ["run a mock interview with you", "polish your intro"],
    },
    {
        "key": "difficult_manager",
        "cluster": CAREER,
        "slots": {
            "manager": ["Greg", "Ms Tanaka", "Andrea", "Phil"],
            "thing": [
                "rewrites reports at midnight",
                "criticises people in team meetings",
                "changes priorities every day",
            ],
        },
        "openers": [
            "My manager {manager} {thing}. I'm starting to hate my job.",
            "how to deal with a manager who {thing}? {manager} is impossible",
        ],
        "followups": [
            "Should I go to HR?",
            "Everyone else seems fine with {manager}.",
            "I'm worried it will affect my review.",
            "Is it worth just leaving?",
        ],
        "facts": [
            "Naming the specific behaviour and its effect in a one-to-one, for example 'when "
            "priorities change daily I can't finish anything', is more effective than general "
            "complaints.",
            "Keeping short dated notes of incidents protects you if you later go to HR.",
            "HR is an option when behaviour is unfair or repeated after you raised it directly.",
            "Others may cope differently or suffer quietly; their silence does not make your "
            "experience wrong.",
        ],
        "steps": [
            "book a one-to-one with {manager} and raise one specific behaviour",
            "keep dated notes of each incident",
            "ask a trusted colleague how they handle {manager}",
        ],
        "feeling": ["frustration", "resentment", "stress"],
        "situation": ["a manager who {thing}", "worrying about your review under {manager}"],
        "question": [
            "How long has {manager} been your manager?",
            "What would a good week with {manager} look like?",
        ],
        "offer": ["script the one-to-one with you", "weigh staying against leaving"],
    },
    {
        "key": "career_change",
        "cluster": CAREER,
        "slots": {
            "age": ["38", "45", "31", "52"],
            "from_job": ["accountant", "retail manager", "lawyer", "chef"],
            "to_job": ["UX designer", "nurse", "data analyst", "teacher"],
        },
        "openers": [
            "I'm {age} and I want to switch from {from_job} to {to_job}. Am I too old?",
            "career change at {age}? {from_job} -> {to_job}. scared to waste years",
        ],
        "followups": [
            "How do I afford retraining?",
            "What skills carry over?",
            "My family thinks it's a midlife crisis.",
            "Should I quit first or study on the side?",
        ],
        "facts": [
            "Career changes in the thirties, forties and fifties are common; employers often value "
            "the judgement that comes with experience.",
            "As a {from_job}, you bring skills like stakeholder management and handling "
            "pressure that transfer to {to_job} work.",
            "Testing the new field first with a short course or volunteering reduces the risk.",
            "Studying on the side while employed is slower but keeps income steady.",
        ],
        "steps": [
            "talk to two people who work as a {to_job}",
            "take a short introductory course before committing",
            "calculate how many months of savings you would need",
        ],
        "feeling": ["fear", "uncertainty", "excitement mixed with fear"],
        "situation": ["switching from {from_job} to {to_job} at {age}", "your family's doubts"],
        "question": [
            "What draws you to being a {to_job}?",
            "What would make the change feel safe enough?",
        ],
        "offer": ["map your transferable skills", "sketch a one-year transition plan"],
    },
    {
        "key": "procrastination",
        "cluster": CAREER,
        "slots": {
            "task": ["the thesis", "the quarterly report", "the portfolio", "the tax return"],
            "days": ["three", "ten", "five"],
        },
        "openers": [
            "I keep putting off {task}. Deadline in {days} days and I've done nothing.",
            "chronic procrastinator. {task} due in {days} days. help",
        ],
        "followups": [
            "I start, then end up on my phone.",
            "I work best under pressure, don't I?",
            "I feel like a fraud.",
            "What if it's just not good enough?",
        ],
        "facts": [
            "Procrastination is often about avoiding an unpleasant feeling such as fear of "
            "judgement, not about laziness.",
            "Breaking {task} into pieces of under thirty minutes lowers the threshold to start.",
            "The 'work best under pressure' feeling is mostly relief; quality usually suffers.",
            "Putting the phone in another room is one of the most effective single changes.",
        ],
        "steps": [
            "write the smallest first step of {task} and do it for ten minutes",
            "put your phone in another room during work blocks",
            "plan the {days} days in blocks on paper",
        ],
        "feeling": ["guilt", "stress", "shame"],
        "situation": ["{task} due in {days} days", "starting and drifting to the phone"],
        "question": [
            "What is the part of {task} you dread most?",
            "When in the day do you have most energy?",
        ],
        "offer": ["break {task} down with you", "make a {days}-day plan"],
    },
    {
        "key": "imposter_syndrome",
        "cluster": CAREER,
        "slots": {
            "role": ["senior developer", "research fellow", "team lead", "consultant"],
            "months": ["two", "four", "three"],
        },
        "openers": [
            "I was promoted to {role} {months} months ago and I feel like a fraud who'll be found "
            "out any day.",
            "everyone around me is smarter. new {role}, {months} months. imposter syndrome?",
        ],
        "followups": [
            "I over-prepare for every meeting.",
            "Compliments make me uncomfortable.",
            "What if they made a mistake promoting me?",
            "I don't want to ask questions in case I look stupid.",
        ],
        "facts": [
            "Imposter feelings are very common after promotions; they reflect the new stretch, "
            "not your competence.",
            "Keeping a file of concrete achievements and feedback gives you evidence to check "
            "the feeling against.",
            "Asking questions in a new {role} role is expected and often read as engagement.",
            "Over-preparing can be dialled down gradually, starting with low-stakes meetings.",
        ],
        "steps": [
            "start an evidence file with three recent wins",
            "ask one question in your next meeting",
            "prepare half as long for one low-stakes meeting this week",
        ],
        "feeling": ["self-doubt", "anxiety", "insecurity"],
        "situation": ["{months} months as a new {role}", "feeling like a fraud"],
        "question": [
            "What made them choose you for {role}?",
            "Who could you talk to honestly at work?",
        ],
        "offer": ["help you build the evidence file", "practise asking questions"],
    },
    {
        "key": "promotion_passed_over",
        "cluster": CAREER,
        "slots": {
            "colleague": ["Martin", "Julia", "Kwame", "Nora"],
            "years": ["three", "five", "two"],
        },
        "openers": [
            "I was passed over for promotion and {colleague} got it, after {years} years of me "
            "covering the extra work.",
            "didn't get the promotion. {colleague} did. {years} years here. so angry",
        ],
        "followups": [
            "How do I ask why without sounding bitter?",
            "Should I start looking elsewhere?",
            "I have to work with {colleague} every day now.",
            "My manager said 'next time'.",
        ],
        "facts": [
            "Asking for specific feedback, 'what would have made me the choice?', keeps the talk "
            "about the future rather than the past.",
            "'Next time' is only meaningful if it comes with criteria and a timeline.",
            "Looking at the market is reasonable after {years} years; it also shows your value.",
            "Keeping a professional relationship with {colleague} protects your reputation.",
        ],
        "steps": [
            "ask your manager for the criteria in writing",
            "agree a review date in six months",
            "update your CV quietly",
        ],
        "feeling": ["disappointment", "anger", "hurt pride"],
        "situation": ["{colleague} getting the promotion", "{years} years of extra work"],
        "question": [
            "What did your manager say exactly?",
            "Do you still want to grow at this company?",
        ],
        "offer": ["plan the feedback conversation", "weigh your options"],
    },
    {
        "key": "networking_shy",
        "cluster": CAREER,
        "slots": {
            "event": ["a conference in Berlin", "a trade fair", "an alumni evening"],
            "weeks": ["two", "three", "one"],
        },
        "openers": [
            "I'm going to {event} in {weeks} weeks. I'm shy and networking makes me want to hide.",
            "networking tips for introverts? {event} coming up",
        ],
        "followups": [
            "How do I start a conversation?",
            "How do I leave a conversation?",
            "Do I need business cards?",
            "What do I do after the event?",
        ],
        "facts": [
            "Opening with the context works well: 'what brought you to this session?'",
            "Leaving is easy with 'it was great to meet you, I'll let you go'.",
            "Setting a goal of three good conversations beats trying to meet everyone.",
            "Following up within two days with a specific reference turns a chat into a contact.",
            "A digital card or QR code works as well as paper ones.",
        ],
        "steps": [
            "set a goal of three conversations at {event}",
            "prepare two opening questions",
            "send follow-up messages within two days",
        ],
        "feeling": ["nerves", "dread", "social anxiety"],
        "situation": ["{event} in {weeks} weeks", "networking as a shy person"],
        "question": [
            "What do you hope to get from {event}?",
            "Who would you most like to meet there?",
        ],
        "offer": ["prepare openers with you", "draft follow-up messages"],
    },
    {
        "key": "work_life_balance",
        "cluster": CAREER,
        "slots": {"kids": ["two kids", "a toddler", "three kids"], "hour": ["9pm", "10pm", "11pm"]},
        "openers": [
            "I work from home with {kids} and I'm answering emails until {hour}. How do people do "
            "this?",
            "no boundaries anymore. wfh, {kids}, emails till {hour}",
        ],
        "followups": [
            "My team messages at all hours.",
            "I feel guilty logging off.",
            "My partner is complaining.",
            "Is it ok to turn off notifications?",
        ],
        "facts": [
            "Fixed start and end times, written in your calendar and status, set expectations "
            "for your team.",
            "Turning off notifications outside hours is normal; urgent issues can go by phone.",
            "Messages sent late are often not expecting an instant reply; agreeing response times "
            "as a team removes the pressure.",
            "A short shutdown ritual, such as listing tomorrow's tasks, helps the mind switch off.",
        ],
        "steps": [
            "set notifications to pause at 6pm",
            "write your working hours in your email signature",
            "agree response-time norms with your team",
        ],
        "feeling": ["overwhelm", "guilt", "exhaustion"],
        "situation": ["emails until {hour} with {kids}", "no boundary between work and home"],
        "question": [
            "What would a good evening look like?",
            "How does your manager feel about boundaries?",
        ],
        "offer": ["draft a message to your team about hours", "plan a shutdown routine"],
    },
    {
        "key": "negotiating_offer",
        "cluster": CAREER,
        "slots": {
            "offer": ["52,000", "68,000", "85,000"],
            "target": ["58,000", "75,000", "95,000"],
            "days": ["two", "three", "five"],
        },
        "openers": [
            "I got a job offer for {offer} but I hoped for {target}. They want an answer in {days} "
            "days.",
            "negotiate offer? they said {offer}, market is more like {target}",
        ],
        "followups": [
            "What if they withdraw the offer?",
            "Can I negotiate other things than salary?",
            "Should I do it by email or phone?",
            "How do I phrase it?",
        ],
        "facts": [
            "Withdrawn offers after a polite negotiation are rare; employers expect it.",
            "Give a specific number backed by market data, for example {target}, rather than a "
            "range.",
            "Other levers include signing bonus, extra leave, remote days and training budget.",
            "A phone call to negotiate followed by an email summary works well.",
        ],
        "steps": [
            "gather three salary data points for the role",
            "call the recruiter and ask for {target}",
            "confirm the outcome in writing",
        ],
        "feeling": ["nervousness", "excitement and worry"],
        "situation": [
            "an offer of {offer} versus your hope of {target}",
            "the {days}-day deadline",
        ],
        "question": [
            "How much do you want this particular job?",
            "What else matters to you besides salary?",
        ],
        "offer": ["draft the negotiation email", "role-play the call"],
    },
    {
        "key": "public_speaking",
        "cluster": CAREER,
        "slots": {
            "audience": ["200 people", "the board", "the whole department"],
            "days": ["ten", "three", "seven"],
        },
        "openers": [
            "I have to present to {audience} in {days} days and my voice shakes just thinking "
            "about it.",
            "presentation to {audience} in {days} days. terrified of public speaking",
        ],
        "followups": [
            "Should I memorise the whole thing?",
            "What if I lose my place?",
            "How do I handle questions I can't answer?",
            "How many slides?",
        ],
        "facts": [
            "Memorising word for word makes losing your place worse; memorise the opening and the "
            "structure instead.",
            "Rehearsing out loud three times, once in front of a person, cuts nerves a lot.",
            "If you lose your place, pausing and looking at your notes looks calm to the audience.",
            "For questions you can't answer: 'good question, I'll check and get back to you'.",
            "Around one slide per minute is a reasonable ceiling.",
        ],
        "steps": [
            "write and memorise your first two sentences",
            "rehearse out loud three times before the day",
            "prepare answers for the three most likely questions",
        ],
        "feeling": ["fear", "nerves", "stage fright"],
        "situation": ["presenting to {audience} in {days} days", "a shaking voice"],
        "question": ["What is the presentation about?", "Have you presented before?"],
        "offer": ["structure the talk with you", "practise the Q&A"],
    },
    {
        "key": "layoff",
        "cluster": CAREER,
        "slots": {
            "years": ["eight", "twelve", "four"],
            "company": ["the bank", "a logistics firm", "the agency"],
        },
        "openers": [
            "I was laid off from {company} yesterday after {years} years. I don't know where to "
            "start.",
            "got let go. {years} years at {company}. what do I do first",
        ],
        "followups": [
            "Should I sign the severance agreement right away?",
            "How do I explain it in interviews?",
            "I feel embarrassed telling people.",
            "Should I take a break first?",
        ],
        "facts": [
            "Severance agreements can usually be reviewed before signing; many people have them "
            "checked by an adviser or union.",
            "Layoffs are about company decisions; in interviews a short factual line is enough.",
            "Registering for unemployment support quickly avoids losing weeks of payments.",
            "A short break can help, but a light routine keeps momentum.",
        ],
        "steps": [
            "ask for the severance terms in writing and get them checked",
            "register for unemployment support this week",
            "tell three former colleagues you are looking",
        ],
        "feeling": ["shock", "embarrassment", "fear"],
        "situation": [
            "losing your job at {company} after {years} years",
            "the severance paperwork",
        ],
        "question": [
            "How are you holding up since yesterday?",
            "What kind of role would you want next?",
        ],
        "offer": ["plan the first week", "draft your LinkedIn update"],
    },
    {
        "key": "first_time_manager",
        "cluster": CAREER,
        "slots": {"n": ["four", "six", "nine"], "peer": ["Ollie", "Sara", "Dev"]},
        "openers": [
            "I just became manager of {n} people, including my former peer {peer}. It's awkward.",
            "new manager, team of {n}. {peer} used to be my friend at work, now reports to me",
        ],
        "followups": [
            "How do I give negative feedback?",
            "How often should I have one-to-ones?",
            "I keep doing the work myself.",
            "{peer} seems resentful.",
        ],
        "facts": [
            "Talking openly with {peer} early about the change clears the air better than "
            "ignoring it.",
            "Weekly or fortnightly one-to-ones of thirty minutes are a solid default.",
            "Feedback works best when specific and timely: the situation, the behaviour, the "
            "impact.",
            "Doing the work yourself feels efficient but blocks your team's growth; delegate with "
            "clear outcomes.",
        ],
        "steps": [
            "schedule a one-to-one with {peer} this week",
            "set up recurring one-to-ones for all {n} people",
            "delegate one task you would normally do",
        ],
        "feeling": ["awkwardness", "uncertainty", "pressure"],
        "situation": ["managing {n} people including {peer}", "doing the work yourself"],
        "question": [
            "What kind of manager do you want to be?",
            "How did {peer} react to the news?",
        ],
        "offer": ["script the talk with {peer}", "plan your first month"],
    },
    {
        "key": "morning_routine",
        "cluster": CAREER,
        "slots": {"time": ["6am", "5:30am", "7am"], "habit": ["running", "journaling", "studying"]},
        "openers": [
            "I want to get up at {time} for {habit} but I hit snooze every single day.",
            "building a morning routine. {time}, {habit}. failing every week",
        ],
        "followups": [
            "How long until it's a habit?",
            "Should I do it on weekends too?",
            "I go to bed too late.",
            "Is an app worth it?",
        ],
        "facts": [
            "Habits take weeks to months to form; missing a day does not reset progress much.",
            "Earlier mornings start the night before: a fixed bedtime matters more than the alarm.",
            "Starting with five minutes of {habit} is easier to keep than a full session.",
            "Putting the alarm across the room removes the snooze option.",
        ],
        "steps": [
            "set a bedtime eight hours before {time}",
            "put your {habit} gear out the night before",
            "start with five minutes only",
        ],
        "feeling": ["frustration", "disappointment in yourself"],
        "situation": ["getting up at {time} for {habit}", "hitting snooze every day"],
        "question": ["What time do you usually fall asleep?", "Why does {habit} matter to you?"],
        "offer": ["plan the first two weeks", "set up a simple tracker"],
    },
    # ------------------------------------------------------------------ work assignments / writing
    {
        "key": "cover_letter",
        "cluster": WRITING,
        "slots": {
            "role": ["junior data analyst", "marketing coordinator", "lab technician"],
            "company": ["Northwind", "Brightline Health", "Atlas Logistics"],
        },
        "openers": [
            "Can you edit my cover letter opening for a {role} job at {company}? 'I am writing to "
            "apply for the position I saw online.'",
            "fix my cover letter intro pls: 'I am writing to apply for the position I saw online.' "
            "job is {role} at {company}",
        ],
        "followups": [
            "Can you make it shorter?",
            "Is it too formal?",
            "How do I end the letter?",
            "Should I mention salary?",
        ],
        "facts": [
            "Revised opening: 'I am applying for the {role} role at {company} because your work "
            "matches the skills I have built in my last two positions.'",
            "Name the role and company in the first sentence and give one concrete reason.",
            "Shorter version: 'I'd like to join {company} as a {role}, where my analysis skills "
            "can add value from day one.'",
            "Close with: 'I would welcome the chance to discuss how I can contribute to "
            "{company}.'",
            "Leave salary out of the cover letter unless the advert asks for it.",
        ],
        "steps": [
            "replace the first line with the revised opening",
            "add one result with a number in the second paragraph",
            "cut the letter to under 300 words",
        ],
        "feeling": ["time pressure", "uncertainty about the tone"],
        "situation": ["the cover letter for {role} at {company}", "a generic opening line"],
        "question": [
            "What is the strongest result you could mention?",
            "When is the application due?",
        ],
        "offer": ["edit the rest of the letter", "tailor it to the job advert"],
    },
    {
        "key": "report_summary",
        "cluster": WRITING,
        "slots": {
            "pages": ["40", "25", "60"],
            "topic": ["supplier costs", "customer churn", "energy usage"],
            "audience": ["the board", "the director", "the client"],
        },
        "openers": [
            "I need a half-page summary of a {pages}-page report on {topic} for {audience} by "
            "tomorrow.",
            "summarise report on {topic} for {audience}, {pages} pages, key points only",
        ],
        "followups": [
            "Should I use bullet points?",
            "How do I present the numbers?",
            "What goes first?",
            "Can you make it less technical?",
        ],
        "facts": [
            "Lead with the conclusion: one sentence on what the report found about {topic} and "
            "what {audience} should decide.",
            "Then three bullets with the key figures, each with its comparison point, e.g. up 12% "
            "on last year.",
            "End with the recommended action and its cost or timeline.",
            "Remove method details; {audience} can read the full {pages} pages if needed.",
            "Replace jargon with plain terms and define any unavoidable acronym once.",
        ],
        "steps": [
            "write the one-sentence conclusion first",
            "pick the three figures that matter most",
            "cut everything about method",
        ],
        "feeling": ["time pressure", "stress about the deadline"],
        "situation": [
            "summarising {pages} pages on {topic}",
            "the summary for {audience} due tomorrow",
        ],
        "question": [
            "What decision does {audience} need to make?",
            "Which figure surprised you most?",
        ],
        "offer": ["draft the summary from your notes", "shorten your draft"],
    },
    {
        "key": "grammar_fix",
        "cluster": WRITING,
        "slots": {
            "doc": ["a thesis chapter", "a blog post", "a client proposal"],
            "words": ["1,200", "800", "3,000"],
        },
        "openers": [
            "Please fix the grammar: 'Their going to review the datas and it effect our results.' "
            "It's from {doc}.",
            "grammar check: 'me and him has went to the meeting' — its for {doc}",
        ],
        "followups": [
            "Why 'data' and not 'datas'?",
            "Effect or affect, which one?",
            "Can you check the rest? It's {words} words.",
            "Is 'me and him' ever right?",
        ],
        "facts": [
            "Corrected: 'They're going to review the data, and it will affect our results.'",
            "Corrected: 'He and I went to the meeting.'",
            "'Data' is already plural (or a mass noun), so 'datas' is not used.",
            "'Affect' is usually the verb and 'effect' the noun: the change affects results; the "
            "effect is small.",
            "'Me and him' works only as an object, as in 'she invited him and me'.",
        ],
        "steps": [
            "search {doc} for 'effect' and check each use",
            "read sentences aloud to catch agreement errors",
            "send the next section in chunks",
        ],
        "feeling": ["worry about mistakes", "time pressure"],
        "situation": ["the grammar in {doc}", "{words} words to proofread"],
        "question": ["Who is the reader of {doc}?", "Do you want British or American spelling?"],
        "offer": ["proofread the next section", "list your most common errors"],
    },
    {
        "key": "email_decline",
        "cluster": WRITING,
        "slots": {
            "client": ["Mr Haddad", "the Lindqvist team", "Dr Ng"],
            "project": ["the website redesign", "the Q3 audit", "the training workshop"],
        },
        "openers": [
            "I need to write an email declining {project} for {client} without burning the bridge.",
            "help me say no to {client} about {project}. politely",
        ],
        "followups": [
            "Should I give a reason?",
            "Can I suggest someone else?",
            "Make it warmer?",
            "Subject line?",
        ],
        "facts": [
            "Draft: 'Dear {client}, thank you for thinking of us for {project}. After reviewing "
            "our capacity, we are not able to take it on to the standard it deserves.'",
            "Then: 'I would be glad to recommend a colleague, and I hope we can work together on "
            "a future project.'",
            "A brief reason like capacity is enough; long explanations invite negotiation.",
            "Subject line: 'Re: {project} — our reply'.",
        ],
        "steps": [
            "send the decline within two working days",
            "offer one alternative contact",
            "keep it under 120 words",
        ],
        "feeling": ["awkwardness", "worry about the relationship"],
        "situation": ["declining {project} for {client}", "keeping the relationship with {client}"],
        "question": [
            "Do you want to work with {client} again?",
            "Is there a colleague you could recommend?",
        ],
        "offer": ["adjust the tone", "write the follow-up version"],
    },
    {
        "key": "meeting_minutes",
        "cluster": WRITING,
        "slots": {
            "meeting": [
                "the project kickoff",
                "Tuesday's budget meeting",
                "the steering committee",
            ],
            "n": ["seven", "five", "eleven"],
        },
        "openers": [
            "Can you turn my messy notes from {meeting} into proper minutes? {n} people attended.",
            "minutes from {meeting}, {n} attendees, notes are a mess. format?",
        ],
        "followups": [
            "Do I need to include who said what?",
            "How do I list action items?",
            "Past or present tense?",
            "How long should minutes be?",
        ],
        "facts": [
            "Use this structure: date and attendees, decisions, action items with owner and "
            "deadline, open questions.",
            "Record decisions and actions, not a transcript; attribute only when it matters.",
            "Action item format: 'Maria — send the revised budget — by 14 May'.",
            "Past tense reads naturally: 'The group agreed to...'.",
            "One page is usually enough for {meeting}.",
        ],
        "steps": [
            "pull every decision from your notes into one list",
            "give each action an owner and date",
            "send the minutes within 24 hours",
        ],
        "feeling": ["time pressure", "mild overwhelm"],
        "situation": ["minutes for {meeting}", "notes from {n} attendees"],
        "question": ["Who receives the minutes?", "Were there any decisions still open?"],
        "offer": ["format your notes", "make a reusable template"],
    },
    {
        "key": "linkedin_summary",
        "cluster": WRITING,
        "slots": {
            "years": ["six", "ten", "three"],
            "field": ["supply chain", "software testing", "HR"],
        },
        "openers": [
            "Can you rewrite my LinkedIn About section? I have {years} years in {field} and it "
            "currently says 'Hard-working team player.'",
            "linkedin summary for {field}, {years} yrs. mine is boring",
        ],
        "followups": [
            "First person or third?",
            "How long should it be?",
            "Should I add keywords?",
            "Emojis?",
        ],
        "facts": [
            "Draft: 'I help teams in {field} run smoother: {years} years of cutting delays, fixing "
            "processes and training colleagues.'",
            "First person sounds more natural on LinkedIn.",
            "Aim for three short paragraphs: what you do, proof, what you are looking for.",
            "Include the keywords recruiters search for in {field}.",
            "Emojis are optional; in conservative fields, skip them.",
        ],
        "steps": [
            "replace 'hard-working team player' with one concrete result",
            "add five {field} keywords",
            "end with what you are looking for",
        ],
        "feeling": ["uncertainty", "self-consciousness"],
        "situation": ["{years} years in {field}", "a boring About section"],
        "question": ["What are you looking for next?", "What's a result you're proud of?"],
        "offer": ["write two alternative versions", "tune the keywords"],
    },
    {
        "key": "grant_abstract",
        "cluster": WRITING,
        "slots": {
            "funder": ["the research council", "a foundation", "the EU programme"],
            "limit": ["250", "200", "300"],
        },
        "openers": [
            "My grant abstract for {funder} is 410 words and the limit is {limit}. Help me cut it.",
            "cut abstract to {limit} words for {funder}. can't decide what to drop",
        ],
        "followups": [
            "What can go?",
            "Should I keep the background?",
            "Do reviewers read the whole thing?",
            "How do I end?",
        ],
        "facts": [
            "Keep four moves: the problem, the gap, what you will do, why it matters; about one "
            "sentence of background is enough.",
            "Cut method details and citations first; reviewers look for aims and impact.",
            "Replace phrases like 'in order to' with 'to' and 'a number of' with 'several'.",
            "End with the expected impact for {funder}'s priorities.",
        ],
        "steps": [
            "mark each sentence as problem, gap, plan or impact",
            "delete sentences that fit none",
            "count words after each pass",
        ],
        "feeling": ["stress", "frustration with cutting"],
        "situation": ["cutting the abstract to {limit} words", "the {funder} application"],
        "question": [
            "What's the deadline for {funder}?",
            "What's the one result you most want reviewers to remember?",
        ],
        "offer": ["cut a paragraph with you", "check it against {funder}'s criteria"],
    },
    {
        "key": "product_description",
        "cluster": WRITING,
        "slots": {
            "product": ["a bamboo cutting board", "a hiking backpack", "a ceramic mug set"],
            "chars": ["150", "300", "500"],
        },
        "openers": [
            "I need a product description for {product} for our online shop, under {chars} "
            "characters.",
            "product copy for {product} pls, max {chars} chars",
        ],
        "followups": [
            "Make it punchier?",
            "Should I list materials?",
            "Something for SEO?",
            "Can you give two versions?",
        ],
        "facts": [
            "Draft: 'Built to last and easy to clean, {product} brings everyday practicality with "
            "a clean, natural look.'",
            "Lead with the main benefit, then one or two specifics such as materials or size.",
            "Put the product type and one search term in the first sentence for SEO.",
            "Punchier: '{product}: sturdy, simple, made for daily use.'",
        ],
        "steps": [
            "list the three features customers ask about",
            "count characters after each edit",
            "test both versions on the shop page",
        ],
        "feeling": ["time pressure"],
        "situation": ["copy for {product}", "the {chars}-character limit"],
        "question": ["Who is the typical buyer?", "What makes it different from competitors?"],
        "offer": ["write three more variants", "adapt it for social media"],
    },
    {
        "key": "apology_email_client",
        "cluster": WRITING,
        "slots": {
            "client": ["Ms Ferreira", "the Okafor account", "Mr Brandt"],
            "issue": ["a delivery that arrived a week late", "an invoice error", "a missed call"],
        },
        "openers": [
            "I have to write an apology to {client} for {issue}. Keep it professional.",
            "apology email to {client}, {issue}. not too grovelling",
        ],
        "followups": [
            "Should I offer a discount?",
            "How do I explain the cause?",
            "Is it too long?",
            "Subject line?",
        ],
        "facts": [
            "Draft: 'Dear {client}, I apologise for {issue}. This fell short of the service you "
            "expect from us.'",
            "Then the fix: what you have done and what will change, in one or two sentences.",
            "Explain the cause briefly without blaming others.",
            "A goodwill gesture is optional; offer it only if it fits your policy.",
            "Subject line: 'Our apology and next steps'.",
        ],
        "steps": [
            "send it today",
            "state the fix in one sentence",
            "follow up by phone if the account matters a lot",
        ],
        "feeling": ["embarrassment", "worry about the client"],
        "situation": ["apologising to {client} for {issue}", "keeping it professional"],
        "question": ["Has {client} complained already?", "What has been fixed so far?"],
        "offer": ["tighten the draft", "write the phone script"],
    },
    {
        "key": "slide_outline",
        "cluster": WRITING,
        "slots": {
            "minutes": ["ten", "fifteen", "twenty"],
            "subject": ["the new onboarding process", "quarterly sales", "a security incident"],
        },
        "openers": [
            "Can you outline a {minutes}-minute slide deck on {subject}?",
            "need slides on {subject}, {minutes} min, give me an outline",
        ],
        "followups": [
            "How many slides?",
            "Where do the numbers go?",
            "What's a good title?",
            "Should I add a Q&A slide?",
        ],
        "facts": [
            "Outline: title; the problem in one slide; what changed; three key points; impact; "
            "next steps; questions.",
            "For {minutes} minutes, eight to twelve slides is plenty.",
            "Put numbers on their own slide with one chart and one sentence of meaning.",
            "Title idea: '{subject}: what changes and why'.",
        ],
        "steps": [
            "write one sentence per slide before designing anything",
            "cut any slide you can't explain in a minute",
            "end with one clear ask",
        ],
        "feeling": ["time pressure"],
        "situation": ["a {minutes}-minute deck on {subject}", "structuring the slides"],
        "question": ["Who's the audience?", "What should they do after the talk?"],
        "offer": ["write speaker notes", "draft the slide titles"],
    },
    {
        "key": "thesis_intro",
        "cluster": WRITING,
        "slots": {
            "field": ["urban planning", "marine biology", "economics"],
            "words": ["1,500", "2,000", "900"],
        },
        "openers": [
            "My thesis introduction in {field} is {words} words and my supervisor says it's "
            "unfocused. Can you help restructure it?",
            "restructure thesis intro ({field}), supervisor says unfocused",
        ],
        "followups": [
            "Where does the research question go?",
            "How much literature in the intro?",
            "Should I outline chapters?",
            "How do I start the first sentence?",
        ],
        "facts": [
            "A focused introduction moves from the broad problem to the specific gap to your "
            "research question, then how you answer it.",
            "State the research question explicitly by the end of the second page.",
            "Keep literature to what shows the gap; the full review belongs in its own chapter.",
            "A short roadmap paragraph of chapters is standard in {field} theses.",
            "Open with a concrete fact or problem in {field}, not a sweeping claim about history.",
        ],
        "steps": [
            "write your research question as one sentence",
            "label each paragraph with its role",
            "move review material to chapter two",
        ],
        "feeling": ["frustration", "discouragement"],
        "situation": ["the {words}-word introduction", "your supervisor's feedback"],
        "question": [
            "What is your research question right now?",
            "When is the next supervisor meeting?",
        ],
        "offer": ["restructure the first page", "check the roadmap paragraph"],
    },
    {
        "key": "press_release",
        "cluster": WRITING,
        "slots": {
            "org": ["Greenfield Library", "a local food bank", "Solvik Robotics"],
            "news": ["a new opening", "a partnership", "an award"],
        },
        "openers": [
            "I need a press release for {org} announcing {news}. Here's what I have so far.",
            "press release, {org}, {news}. format help",
        ],
        "followups": [
            "How long should it be?",
            "Do I need a quote?",
            "What goes at the end?",
            "Headline ideas?",
        ],
        "facts": [
            "Structure: headline, dateline, first paragraph answering who, what, when, where, "
            "then details, a quote, and an 'About {org}' section.",
            "Keep it to about 400 words.",
            "Include one quote from a named person that adds a view, not facts.",
            "Headline: '{org} announces {news}'.",
            "End with a media contact line.",
        ],
        "steps": [
            "write the first paragraph answering the five questions",
            "get an approved quote",
            "add the media contact",
        ],
        "feeling": ["time pressure"],
        "situation": ["announcing {news} for {org}", "the press release format"],
        "question": ["When do you want to send it?", "Who should the quote come from?"],
        "offer": ["write the full draft", "suggest headlines"],
    },
    {
        "key": "resignation_letter",
        "cluster": WRITING,
        "slots": {
            "manager": ["Ms Patel", "Jordan", "Mr Weber"],
            "notice": ["four weeks", "one month", "two weeks"],
        },
        "openers": [
            "I need to write a resignation letter to {manager}, notice period {notice}. Keep it "
            "short and neutral.",
            "resignation letter for {manager}, {notice} notice. neutral pls",
        ],
        "followups": [
            "Should I say why I'm leaving?",
            "Do I thank them?",
            "What date do I put?",
            "Email or printed?",
        ],
        "facts": [
            "Draft: 'Dear {manager}, please accept this letter as formal notice of my resignation. "
            "My last working day will be in {notice}, on [date].'",
            "Add: 'Thank you for the opportunities during my time here. I will help make the "
            "handover smooth.'",
            "Reasons are optional; neutral letters usually omit them.",
            "Date the letter with the day you submit it.",
        ],
        "steps": [
            "fill in the exact last day",
            "send it by email and keep a copy",
            "prepare a handover list",
        ],
        "feeling": ["awkwardness", "nerves"],
        "situation": ["resigning with {notice} notice", "writing to {manager}"],
        "question": ["When do you plan to hand it in?", "Do you want to mention your next job?"],
        "offer": ["adjust the tone", "draft the handover list"],
    },
    {
        "key": "recommendation_letter",
        "cluster": WRITING,
        "slots": {
            "student": ["Amara", "Felix", "Yusuf"],
            "program": ["a master's in public health", "a nursing programme", "an engineering PhD"],
        },
        "openers": [
            "I have to write a recommendation letter for {student}, applying to {program}. Where "
            "do I start?",
            "rec letter for {student} -> {program}. template?",
        ],
        "followups": [
            "How long should it be?",
            "Should I mention weaknesses?",
            "How do I sound enthusiastic but credible?",
            "What's a good closing line?",
        ],
        "facts": [
            "Open with how you know {student}, for how long and in what role.",
            "Give two or three specific examples of their work with outcomes.",
            "Credible enthusiasm comes from comparisons: 'among the top five students I have "
            "taught in ten years'.",
            "One page is the norm.",
            "Close: 'I recommend {student} for {program} without reservation.'",
        ],
        "steps": [
            "list three concrete examples of {student}'s work",
            "ask {student} for their CV and statement",
            "keep it to one page",
        ],
        "feeling": ["time pressure"],
        "situation": ["the letter for {student}", "the application to {program}"],
        "question": ["What's {student}'s strongest quality?", "When is it due?"],
        "offer": ["draft the first paragraph", "review your draft"],
    },
    {
        "key": "instructions_doc",
        "cluster": WRITING,
        "slots": {
            "process": [
                "submitting expense claims",
                "booking meeting rooms",
                "resetting passwords",
            ],
            "readers": ["new hires", "the whole office", "contractors"],
        },
        "openers": [
            "Write step-by-step instructions for {process} for {readers}.",
            "need a how-to doc for {process}, audience {readers}",
        ],
        "followups": [
            "Numbered list or paragraphs?",
            "Should I add screenshots?",
            "How do I handle exceptions?",
            "Can it fit on one page?",
        ],
        "facts": [
            "Use a numbered list, one action per step, starting with a verb: 'Open the portal', "
            "'Select New claim'.",
            "Put prerequisites at the top, such as logins or receipts needed.",
            "Screenshots help {readers} at tricky steps; one per step is too many.",
            "Move exceptions to a short 'If something goes wrong' section at the end.",
        ],
        "steps": [
            "walk through {process} yourself and note each click",
            "test the draft with one of the {readers}",
            "add a contact for questions",
        ],
        "feeling": ["time pressure"],
        "situation": ["instructions for {process}", "writing for {readers}"],
        "question": ["What goes wrong most often?", "Where will the doc live?"],
        "offer": ["draft the steps", "write the troubleshooting section"],
    },
]
