"""Robustness-aware compression search: the smallest, fastest variant that keeps its
robustness.

Evaluation tools report the damage compression does to adversarial robustness; this
package searches for the variant that avoids it. Given budgets (model size and CPU
p50 latency as fractions of the base model's) and an objective (white-box robust
accuracy under one attack and epsilon, with a largest accepted clean-accuracy drop),
it builds candidate variants with the project's compressors, scores each one, and
returns every candidate, the Pareto front of (robust accuracy, latency, size) and
the best candidate within the budgets.

The search space (:mod:`.space`) is a small genome per candidate: a channel-pruning
fraction per prunable Conv layer, the channel rounding, the fine-tune after pruning
(none, plain or adversarial, i.e. PGD examples mixed into each batch as in
adversarial training), int8 quantization and which layers stay in float, clustering
K, and the order of pruning and clustering. Proposals (:mod:`.runner`) are a few
fixed anchors (the plain recipes a user would try first), then a seeded mix of
random genomes and mutations of the best candidates so far.

Scoring (:mod:`.objective`) never touches the evaluation samples the report is
measured on: candidates are calibrated and fine-tuned on one part of the holdout
split and scored on another (the validation split), so choosing the best of many
candidates does not inflate the reported robust accuracy. Robust accuracy is the
onnxruntime accuracy on adversarial inputs crafted through the candidate's own
differentiable bridge (white-box, straight-through gradients for int8).

Reproducible with a seed: builds, fine-tunes and attacks are seeded, and proposals
depend only on the seed and on deterministic scores (accuracies and sizes), never
on measured latency. Latency decides only which candidates are within the budget;
a candidate within a few percent of the latency budget may land on either side in
a rerun, and its row says how close it was.
"""

from .pareto import pareto_front
from .runner import CandidateCache, SearchOutcome, SearchSettings, run_search
from .space import Genome, SearchSpace

__all__ = [
    "CandidateCache",
    "Genome",
    "SearchOutcome",
    "SearchSettings",
    "SearchSpace",
    "pareto_front",
    "run_search",
]
