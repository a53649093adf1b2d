"""The bad-input matrix's cases: the mistakes a user makes, with the exit status and the words
the one error line must contain (the machinery that runs them is ``tests/cli/test_bad_input.py``).

Placeholders in arguments (``{cwd}``, ``{inputs}``, ``{foreign}``, ``{tiny}``, ...) name folders of
the test bed and are filled in there.
"""

from __future__ import annotations

import signal

CUDA_OOM = (
    "CUDA out of memory. Tried to allocate 2.00 GiB. GPU 0 has a total capacity of 79.19 GiB of which 1.06 GiB "
    "is free. Of the allocated memory 75.31 GiB is allocated by PyTorch"
)


# 1. usage errors: the console script itself, answered before torch is imported
USAGE = [
    # (id, args, names the error line must contain)
    ("unknown-command", ["bogus"], ["'bogus'"]),
    ("unknown-command-close", ["prun"], ["'prun'", "did you mean 'prune'"]),
    ("unknown-option", ["prune", "--bogus-flag"], ["--bogus-flag"]),
    ("unknown-option-close", ["prune", "--top-ka", "3"], ["--top-ka", "did you mean --top-k"]),
    ("unknown-option-case", ["clamp", "--Concept", "x"], ["--Concept", "did you mean --concept"]),
    ("int-not-int", ["prune", "--top-k", "abc"], ["--top-k", "'abc'"]),
    ("int-not-int-eq", ["clamp", "--top-k=1.5"], ["--top-k", "'1.5'"]),
    ("float-not-float", ["prune", "--ratio", "half"], ["--ratio", "'half'"]),
    ("float-not-float-clamp", ["clamp", "--value", "strong"], ["--value", "'strong'"]),
    ("int-batch-size", ["cache", "--batch-size", "1.5"], ["--batch-size", "'1.5'"]),
    ("int-tokens", ["train-sae", "--tokens", "2M"], ["--tokens", "'2M'"]),
    ("missing-value", ["prune", "--concept"], ["--concept", "requires an argument"]),
    ("missing-value-evaluate", ["evaluate", "--model"], ["--model", "requires an argument"]),
    ("flag-with-value", ["prune", "--retrain=yes"], ["--retrain", "does not take a value"]),
    ("extra-argument", ["rank", "harry_potter"], ["harry_potter"]),
    ("extra-argument-concepts", ["concepts", "all"], ["all"]),
    ("unknown-option-verbose", ["evaluate", "--verbose=2"], ["--verbose"]),
]


# 2. everything else, run by the forked runner (``tests/cli/bad_input_runner.py``)
OUT = "{cwd}/never"  # every case's --out: must not exist afterwards
F = "{foreign}"
RUNNER = [
    # (id, args, exit, names; optional dict: inject / interrupt)
    # -- bad paths
    ("model-missing", ["evaluate", "--model", "/nonexistent/model"], 2, ["/nonexistent/model"]),
    ("model-no-config", ["prune", "--model", F + "/empty", "--out", OUT], 2, ["/empty", "config.json"]),
    ("model-garbage-config", ["evaluate", "--model", F + "/garbage_model"], 2, ["garbage_model"]),
    ("model-no-weights", ["cache", "--model", F + "/no_weights", "--out", OUT], 2, ["no_weights"]),
    ("model-is-a-concept", ["rank", "--model", "{concept_no_facts}", "--out", OUT], 2, ["no_facts", "config.json"]),
    ("config-missing", ["prune", "--config", "/nonexistent/c.json"], 2, ["/nonexistent/c.json"]),
    ("config-is-a-folder", ["clamp", "--config", F + "/empty"], 2, ["/empty"]),
    ("ranking-missing", ["prune", "--ranking", "/nonexistent/ranking", "--out", OUT], 2, ["/nonexistent/ranking"]),
    ("from-missing", ["clamp", "--from", "/nonexistent/run", "--out", OUT], 2, ["/nonexistent/run"]),
    ("sae-missing", ["clamp", "--sae", "/nonexistent/sae", "--out", OUT], 2, ["/nonexistent/sae"]),
    ("corpus-missing", ["train-sae", "--corpus", "/nonexistent/corpus.txt", "--out", OUT], 2, ["corpus.txt"]),
    ("out-under-a-file", ["prune", "--out", "{inputs}/a_file.txt/run"], 1, ["a_file.txt"]),
    # -- unknown names (values outside the valid set)
    ("concept-unknown", ["prune", "--concept", "no_such_concept", "--out", OUT], 2, ["'no_such_concept'"]),
    ("concept-unknown-eval", ["evaluate", "--concept", "voldemort"], 2, ["'voldemort'"]),
    ("method-unknown", ["prune", "--method", "magic", "--out", OUT], 2, ["'magic'"]),
    ("method-unknown-rank", ["rank", "--method", "telepathy", "--out", OUT], 2, ["'telepathy'"]),
    ("method-unknown-clamp", ["clamp", "--concept", "{planted}", "--method", "sae-x", "--out", OUT], 2, ["'sae-x'"]),
    ("ablation-unknown", ["prune", "--ablation", "half", "--out", OUT], 2, ['"half"', '"mean"']),
    ("clamp-mode-unknown", ["clamp", "--mode", "soft", "--out", OUT], 2, ['"soft"', '"conditional"']),
    ("value-kind-unknown", ["clamp", "--value-kind", "percent", "--out", OUT], 2, ['"percent"', '"fixed"']),
    ("architecture-unknown", ["train-sae", "--architecture", "gated-ish", "--out", OUT], 2, ['"gated-ish"', "topk"]),
    ("sae-hook-unknown", ["train-sae", "--hook", "blocks.7.hook_resid_pre", "--out", OUT], 2, ["blocks.7"]),
    ("hook-unknown", ["cache", "--hook", "blocks.9.nothing", "--out", OUT], 2, ["blocks.9.nothing"]),
    ("rank-option-unknown", ["rank", "-o", "lambda_l3=1", "--out", OUT], 2, ["lambda_l3"]),
    ("rank-option-no-equals", ["rank", "-o", "lambda_l1", "--out", OUT], 2, ["'lambda_l1'"]),
    ("rank-option-wrong-type", ["rank", "-o", "lambda_l1=abc", "--out", OUT], 2, ["lambda_l1", '"abc"']),
    ("device-cuda-cpu-torch", ["prune", "--device", "cuda", "--out", OUT], 2, ["'cuda'", "pip install torch"]),
    ("device-mps", ["evaluate", "--device", "mps"], 2, ["'mps'"]),
    ("device-unknown", ["cache", "--device", "gpu0", "--out", OUT], 2, ["'gpu0'"]),
    # -- out-of-range numbers
    ("buffer-tokens-zero", ["train-sae", "--buffer-tokens", "0", "--out", OUT], 2, ["buffer_tokens", "got 0"]),
    ("ratio-above-1", ["prune", "--ratio", "1.5", "--out", OUT], 2, ["1.5"]),
    ("ratio-zero", ["prune", "--ratio", "0", "--out", OUT], 2, ["ratio", "0"]),
    ("top-k-zero", ["prune", "--top-k", "0", "--out", OUT], 2, ["top_k", "0"]),
    ("top-k-too-large", ["prune", "--top-k", "100000", "--out", OUT], 2, ["100000", "4096"]),
    ("clamp-top-k-negative", ["clamp", "--top-k", "-3", "--out", OUT], 2, ["-3"]),
    ("clamp-feature-out-of-range", ["clamp", "--features", "1,99999", "--out", OUT], 2, ["99999"]),
    ("clamp-feature-not-int", ["clamp", "--features", "1,x", "--out", OUT], 2, ["'1,x'"]),
    ("top-k-and-ratio", ["prune", "--top-k", "5", "--ratio", "0.1", "--out", OUT], 2, ["top_k", "ratio"]),
    # -- bad concept folders
    ("concept-missing-file", ["prune", "--concept", "{concept_no_facts}", "--out", OUT], 2, ["facts_forget.jsonl"]),
    ("concept-empty-keywords", ["rank", "--concept", "{concept_empty_keywords}", "--out", OUT], 2, ["keywords.txt"]),
    ("concept-empty-corpus", ["prune", "--concept", "{concept_empty_forget}", "--out", OUT], 2, ["forget.txt"]),
    (
        "concept-malformed-jsonl",
        ["prune", "--concept", "{concept_malformed_jsonl}", "--out", OUT],
        2,
        ["facts_retain.jsonl:3"],
    ),  # fmt: skip
    ("concept-missing-key", ["prune", "--concept", "{concept_missing_answer}", "--out", OUT], 2, ["jsonl:2", "answer"]),
    ("concept-not-object", ["clamp", "--concept", "{concept_not_object}", "--out", OUT], 2, ["jsonl:1", "list"]),
    ("concept-not-utf8", ["prune", "--concept", "{concept_not_utf8}", "--out", OUT], 2, ["other.txt", "UTF-8"]),
    ("concept-no-keywords", ["prune", "--concept", "{concept_no_keywords}", "--out", OUT], 2, ["no_keywords"]),
    # -- bad config files
    ("config-unknown-key", ["prune", "--config", "{config_unknown_key}"], 2, ["prune_everything"]),
    ("config-wrong-type", ["prune", "--config", "{config_wrong_type}"], 2, ["top_k", '"many"', "integer"]),
    ("config-bool-for-int", ["prune", "--config", "{config_bool_for_int}"], 2, ["seed", "true", "integer"]),
    ("config-str-for-list", ["prune", "--config", "{config_list_type}"], 2, ["test_prompts", "list"]),
    ("config-retrain-type", ["prune", "--config", "{config_retrain_type}"], 2, ["epochs", '"two"']),
    ("config-retrain-unknown", ["prune", "--config", "{config_retrain_unknown}"], 2, ["epochz"]),
    ("config-legacy-unknown", ["prune", "--config", "{config_legacy_unknown}"], 2, ["magic", "neural_probing"]),
    ("config-legacy-ratio", ["prune", "--config", "{config_legacy_ratio}"], 2, ["prune_ratio", '"lots"']),
    ("config-malformed", ["prune", "--config", "{config_malformed}"], 2, ["malformed.json:4"]),
    ("config-empty", ["clamp", "--config", "{config_empty}"], 2, ["empty.json"]),
    ("config-not-object", ["prune", "--config", "{config_not_object}"], 2, ["not_object.json", "object"]),
    ("config-dtype-unknown", ["prune", "--config", "{config_bad_dtype}", "--out", OUT], 2, ["'float64x'"]),
    ("config-dtype-int", ["prune", "--config", "{config_int_dtype}", "--out", OUT], 2, ["'int8'"]),
    ("config-clamp-type", ["clamp", "--config", "{config_clamp_features}"], 2, ["features", '"1,2"']),
    ("config-clamp-unknown", ["clamp", "--config", "{config_clamp_unknown}"], 2, ["bake_it"]),
    # -- existing outputs (never overwritten)
    ("out-exists-prune", ["prune", "--out", "{exists}"], 2, ["exists", "already exists"]),
    ("out-exists-clamp", ["clamp", "--out", "{exists}"], 2, ["exists", "already exists"]),
    ("out-exists-rank", ["rank", "--out", "{exists}"], 2, ["exists", "already exists"]),
    ("out-exists-cache", ["cache", "--out", "{exists}"], 2, ["exists", "already exists"]),
    ("out-exists-train-sae", ["train-sae", "--out", "{exists}"], 2, ["exists", "already exists"]),
    # -- foreign folders given to --from / --ranking / --sae
    ("from-plain-folder", ["prune", "--from", F + "/notes", "--out", OUT], 2, ["notes", "edits.json"]),
    ("from-malformed-stack", ["clamp", "--from", F + "/bad_stack", "--out", OUT], 2, ["edits.json:1"]),
    ("from-old-stack", ["prune", "--from", F + "/old_stack", "--out", OUT], 2, ["edits.json", "base_model"]),
    ("from-and-model", ["prune", "--from", F + "/notes", "--model", "bundled", "--out", OUT], 2, ["--from"]),
    ("ranking-plain-folder", ["prune", "--ranking", F + "/notes", "--out", OUT], 2, ["notes"]),
    ("ranking-garbage", ["prune", "--ranking", F + "/garbage_ranking", "--out", OUT], 2, ["garbage_ranking"]),
    (
        "ranking-other-model",
        ["prune", "--model", "{tiny}", "--concept", "{planted}", "--ranking", "{bundled_ranking}", "--top-k", "4"]
        + ["--out", OUT],
        2,
        ["tiny-world-gpt2"],
    ),
    ("ranking-no-scores", ["prune", "--ranking", F + "/ranking_no_scores", "--out", OUT], 2, ["ranking_no_scores"]),
    ("sae-plain-folder", ["clamp", "--sae", F + "/notes", "--out", OUT], 2, ["notes"]),
    ("sae-is-a-model", ["clamp", "--sae", "{tiny}", "--out", OUT], 2, ["gpt2-only"]),
    ("sae-wrong-model", ["clamp", "--model", "{tiny}", "--out", OUT], 2, ["SAE"]),
    (
        "unlearn-rank-option-unknown",
        ["unlearn", "--rank-option", "forget_frm=synth", "--out", OUT],
        2,
        ["'forget_frm'", "forget_from"],
    ),
    (
        "prune-rank-option-no-value",
        ["prune", "--rank-option", "forget_from", "--out", OUT],
        2,
        ["--rank-option", "KEY=VALUE"],
    ),
    # -- evaluate
    ("evaluate-base-from-no-run", ["evaluate", "--base-from", F, "--out", OUT], 2, ["--base-from", "--run"]),
    ("evaluate-check-unknown", ["evaluate", "--checks", "facts,magic", "--out", OUT], 2, ["'magic'", "familiarity"]),
    (
        "evaluate-check-data-missing",
        ["evaluate", "--concept", "{planted}", "--checks", "familiarity", "--out", OUT],
        2,
        ["familiarity", "openings.jsonl"],
    ),
    ("evaluate-check-option-form", ["evaluate", "-c", "max_new_tokens=3", "--out", OUT], 2, ["CHECK.KEY=VALUE"]),
    ("evaluate-check-option-unknown", ["evaluate", "--checks", "mia", "-c", "mia.kk=0.1", "--out", OUT], 2, ["kk"]),
    ("evaluate-run-and-model", ["evaluate", "--run", F + "/notes", "--model", "bundled", "--out", OUT], 2, ["--run"]),
    ("evaluate-run-plain-folder", ["evaluate", "--run", F + "/notes", "--out", OUT], 2, ["notes", "edits.json"]),
    ("out-exists-evaluate", ["evaluate", "--out", "{exists}"], 2, ["exists", "already exists"]),
    (
        "evaluate-lm-eval-unknown",
        ["evaluate", "--checks", "perplexity", "--lm-eval", "no_such_task", "--out", OUT],
        2,
        ["no_such_task"],
    ),
    ("export-tasks-exists", ["export-tasks", "{exists}"], 2, ["exists", "already exists"]),
    # -- unlearn / filter / relearn
    ("unlearn-method-unknown", ["unlearn", "--method", "forgetful", "--out", OUT], 2, ["'forgetful'", "npo", "rmu"]),
    (
        "unlearn-option-of-another",
        ["unlearn", "--method", "ga", "-o", "beta=0.1", "--out", OUT],
        2,
        ["beta", "'ga'", "npo"],
    ),
    ("unlearn-option-unknown", ["unlearn", "-o", "betta=0.1", "--out", OUT], 2, ["betta", "valid"]),
    ("unlearn-option-type", ["unlearn", "-o", "beta=strong", "--out", OUT], 2, ["beta", '"strong"']),
    ("unlearn-retain-loss", ["unlearn", "-o", "retain_loss=mse", "--out", OUT], 2, ["retain_loss", '"mse"', '"kl"']),
    ("unlearn-lr-zero", ["unlearn", "--lr", "0", "--out", OUT], 2, ["lr", "0"]),
    ("unlearn-lr-negative", ["unlearn", "--lr", "-1e-5", "--out", OUT], 2, ["lr", "-1e-05"]),
    ("unlearn-steps-zero", ["unlearn", "--steps", "0", "--out", OUT], 2, ["steps", "0"]),
    (
        "unlearn-steps-and-epochs",
        ["unlearn", "--steps", "3", "--epochs", "1", "--out", OUT],
        2,
        ["--steps", "--epochs"],
    ),
    ("unlearn-lora-target", ["unlearn", "--lora", "targets=q_proj", "--out", OUT], 2, ["q_proj", "c_fc"]),
    ("unlearn-lora-bad-spec", ["unlearn", "--lora", "rank=8", "--out", OUT], 2, ["rank=8", "r=INT"]),
    ("unlearn-lora-and-localize", ["unlearn", "--lora", "--localize", "8", "--out", OUT], 2, ["--lora", "--localize"]),
    (
        "unlearn-localize-from-folder",
        ["unlearn", "--localize-from", F + "/notes", "--out", OUT],
        2,
        ["notes", "ranking"],
    ),
    ("unlearn-localize-too-large", ["unlearn", "--localize", "100000", "--out", OUT], 2, ["100000", "4096"]),
    ("unlearn-localize-zero", ["unlearn", "--localize", "0", "--out", OUT], 2, ["--localize", "0"]),
    ("unlearn-mixed-precision", ["unlearn", "--mixed-precision", "fp8", "--out", OUT], 2, ['"fp8"', '"bf16"']),
    ("unlearn-forget-sample-zero", ["unlearn", "--forget-sample", "0", "--out", OUT], 2, ["--forget-sample", "0"]),
    ("unlearn-forget-tokens", ["unlearn", "--forget-tokens", "words", "--out", OUT], 2, ['"words"', '"names"']),
    ("unlearn-forget-data-missing", ["unlearn", "--forget-data", "/nonexistent/f.txt", "--out", OUT], 2, ["f.txt"]),
    (
        "unlearn-forget-data-type",
        ["unlearn", "--forget-data", "{config_empty}", "--out", OUT],
        2,
        ["'.json'", ".jsonl"],
    ),
    ("unlearn-from-plain-folder", ["unlearn", "--from", F + "/notes", "--out", OUT], 2, ["notes", "edits.json"]),
    ("out-exists-unlearn", ["unlearn", "--out", "{exists}"], 2, ["exists", "already exists"]),
    ("filter-input-missing", ["filter", "/nonexistent/in.txt", "{cwd}/never.txt"], 2, ["/nonexistent/in.txt"]),
    ("filter-output-exists", ["filter", "{inputs}/a_file.txt", "{exists}"], 2, ["exists", "already exists"]),
    ("filter-input-type", ["filter", "{config_empty}", "{cwd}/never.json"], 2, ["empty.json", ".jsonl"]),
    (
        "filter-concept-unknown",
        ["filter", "--concept", "voldemort", "{inputs}/a_file.txt", "{cwd}/n.txt"],
        2,
        ["'voldemort'"],
    ),
    (
        "filter-threshold-not-probability",
        ["filter", "--probe", "--threshold", "1.5", "{inputs}/a_file.txt", "{cwd}/n.txt"],
        2,
        ["1.5", "between 0 and 1"],
    ),
    (
        "filter-model-without-probe",
        ["filter", "--model", "gemma-3-270m", "{inputs}/a_file.txt", "{cwd}/n.txt"],
        2,
        ["gemma-3-270m", "--probe"],
    ),
    ("relearn-not-a-run", ["relearn", F + "/notes", "--out", OUT], 2, ["notes", "edits.json"]),
    ("relearn-no-config", ["relearn", F + "/run_no_config", "--out", OUT], 2, ["run_no_config", "config.json"]),
    ("relearn-bad-config", ["relearn", F + "/run_bad_config", "--out", OUT], 2, ["run_bad_config", "config.json:1"]),
    ("relearn-split-unknown", ["relearn", F + "/notes", "--split", "thirds"], 2, ['"thirds"', '"half"']),
    ("relearn-steps-zero", ["relearn", F + "/notes", "--steps", "0"], 2, ["steps", "0"]),
    ("relearn-lr-zero", ["relearn", F + "/notes", "--lr", "1e-5", "--lr", "0"], 2, ["lr", "0"]),
]
ENVIRONMENT = [
    (
        "out-of-memory",
        ["prune", "--model", "{tiny}", "--concept", "{planted}", "--top-k", "2", "--out", OUT],
        1,
        ["out of memory", "evaluate_before", "2.00 GiB", "cuda:0", "bfloat16", "--device cpu"],
        {"inject": {"oom_in_stage": "evaluate_before", "message": CUDA_OOM}},
    ),
    (
        "out-of-memory-cpu",
        ["prune", "--model", "{tiny}", "--concept", "{planted}", "--top-k", "4", "--out", OUT],
        1,
        ["out of memory", "`prune` (stage rank)", "32.00 TiB", "the CPU", "bfloat16"],
        {"inject": {"oom_in_stage": "rank"}},
    ),
    (
        "disk-full",
        ["prune", "--model", "{tiny}", "--concept", "harry_potter", "--top-k", "4", "--out", OUT],
        1,
        ["no space left", "config.json", "removed"],
        {"inject": {"enospc_on": "config.json"}},
    ),
    (  # for real: the 1 MiB tmpfs fills up while the model is written (safetensors' own error)
        "disk-full-tmpfs",
        ["prune", "--concept", "{planted}", "--ranking", "{bundled_ranking}", "--top-k", "8", "--out", "{tmpfs}/run"],
        1,
        ["no space left", "{tmpfs}/run", "removed"],
        {"tmpfs": True},
    ),
]
SIG = {"SIGINT": signal.SIGINT, "SIGTERM": signal.SIGTERM}
INTERRUPTS = [
    (
        f"interrupt-{cmd}-{name}",
        [cmd, *extra, "--out", "{cwd}/int-" + cmd],
        128 + int(sig),
        [name],
        {"interrupt": {"signal": int(sig), "when": "{cwd}/.int-" + cmd + ".partial-*"}},
    )
    for cmd, extra, name, sig in [
        ("prune", ["--model", "{tiny}", "--concept", "harry_potter", "--ratio", "0.1"], "SIGINT", SIG["SIGINT"]),
        ("clamp", [], "SIGTERM", SIG["SIGTERM"]),
        ("rank", ["--method", "probeless"], "SIGINT", SIG["SIGINT"]),
        ("cache", ["--to-disk"], "SIGTERM", SIG["SIGTERM"]),
        ("unlearn", ["--steps", "400"], "SIGINT", SIG["SIGINT"]),
        ("train-sae", ["--tokens", "400000"], "SIGINT", SIG["SIGINT"]),
    ]
]
ALL = [(*c, {}) if len(c) == 4 else c for c in RUNNER] + ENVIRONMENT + INTERRUPTS
