"""The shipped default bundle records where it came from and how far people agree with it."""

from __future__ import annotations

import numpy as np

from edge_eval.reward.bundle import default_bundle_dir, load_bundle


def test_default_bundle_records_its_training_data_licences_and_attribution() -> None:
    training = load_bundle().metadata["training"]
    data = {d["name"]: d for d in training["data"]}
    assert data["iEval"]["licence"] == "CC BY 4.0"
    assert "Svikhnushina" in data["iEval"]["attribution"]
    assert "SIGDIAL 2022" in data["iEval"]["attribution"]
    assert "empathy-synth" in data
    graded = data["empathy-behaviours"]  # the project's own graded replies, as contrasts
    assert (
        graded["licence"].startswith("Apache-2.0")
        and "written for this project" in (graded["attribution"])
    )
    assert (training["graded_replies"], training["graded_reply_share"]) == (1350, 0.07)
    labels = data["ieval-reply-labels"]  # the project's behaviour levels of iEval's replies
    assert labels["licence"].startswith("Apache-2.0") and "CC BY 4.0" in labels["licence"]
    assert "Svikhnushina" in labels["attribution"] and "labelling sessions" in labels["attribution"]
    # Layers 3-4 trained on them (L2 towards the pretrained weights), layers 1-2 as pretrained.
    assert training["encoder_trained"] is True
    distilled = training["label_distillation"]
    assert distilled["trained_layers"] == [3, 4] and distilled["labelled_replies"] == 5760
    assert distilled["l2_to_pretrained"] > 0
    # v13c: each warm reply also scored after another person's conversation, and asked to
    # score at least a point higher after its own.
    pairs = distilled["context_pairs"]
    assert (pairs["weight"], pairs["margin"]) == (3.0, 1.0) and "derangement" in pairs["replies"]
    assert training["rated_conversations"] == 1920
    assert {"ridge_alpha", "synthetic_turn_share", "features", "seed", "folds"} <= set(training)


def test_default_bundle_records_its_agreement_with_people() -> None:
    human = load_bundle().metadata["validation"]["human_agreement"]
    cv = human["ieval"]
    assert (cv["level"], cv["protocol"], cv["n"]) == ("conversation", "grouped-5-fold-cv", 1920)
    ee = human["empathetic_exchanges"]
    assert (ee["level"], ee["protocol"], ee["n"]) == ("turn", "unseen", 4948)
    for figures in (cv, ee):
        low, high = figures["spearman_ci"]
        assert low <= figures["spearman"] <= high
        for key in ("mae", "bias", "mean_human", "mean_predicted", "baseline_length_words"):
            assert isinstance(figures[key], float), key
    # Cross-validated on iEval it beats response length on the same labels (0.563 vs 0.339
    # measured). On EmpatheticExchanges it does not (0.076 vs 0.196 measured): see the README.
    assert cv["spearman"] > cv["baseline_length_words"]
    assert abs(cv["bias"]) <= 0.2  # calibrated to people's mean on iEval (measured -0.009)


def test_default_bundle_records_how_far_off_it_is_on_a_chatbot_it_never_saw() -> None:
    unseen = load_bundle().metadata["validation"]["human_agreement"]["ieval_unseen_chatbot"]
    assert (unseen["level"], unseen["protocol"], unseen["n"]) == (
        "conversation",
        "leave-one-chatbot-out",
        1920,
    )
    per = unseen["bias_per_chatbot"]
    assert unseen["chatbots"] == len(per) == 4 and per == sorted(per)
    assert unseen["bias"] in (per[0], per[-1]) and abs(unseen["bias"]) == max(map(abs, per))
    # Only the chatbot's level is unknowable to a head that never saw it: the pooled order
    # is worse than the grouped CV's, and one chatbot's mean is far off (see the README).
    cv = load_bundle().metadata["validation"]["human_agreement"]["ieval"]
    assert unseen["spearman"] < cv["spearman"]


def test_default_bundle_orders_graded_replies_it_never_saw() -> None:
    graded = load_bundle().metadata["validation"]["graded_replies"]
    assert (graded["n"], graded["messages"]) == (1350, 270)
    assert graded["protocol"] == "grouped-5-fold-cv by message"
    # Replies to messages no fold's head saw: ordered well above their length (0.593 and 0.659
    # within a message, measured; length 0.208). v4, without them, read 0.21.
    assert graded["spearman"] > graded["baseline_length_words"] + 0.15
    assert graded["within_message_spearman"] > 0.5


def test_default_head_reads_the_response_at_layers_3_and_4_and_its_length() -> None:
    meta = load_bundle().metadata["training"]
    assert meta["pooled_layers"] == [3, 4] and meta["features"] == "layers+length"
    assert (meta["encoder_layers"], meta["encoder_layers_pretrained"]) == (4, 6)
    head = np.load(default_bundle_dir() / "head.npy")
    assert head.shape == (2 * 384 + 1 + 1,)  # [r3, r4, log length] weights, then the bias
    assert head[2 * 384] > 0.0  # longer replies read as more engaged, as people rated them


def test_default_graph_runs_four_encoder_layers() -> None:
    onnx = __import__("pytest").importorskip("onnx")
    graph = onnx.load(str(default_bundle_dir() / "model.onnx")).graph
    softmaxes = [n for n in graph.node if n.op_type == "Softmax"]  # one per attention layer
    assert len(softmaxes) == 4
