"""Weight pruning: INC 3.7.1's pruning API through the ONNX->torch bridge, and filter pruning.

Paper trail: Han et al., "Learning both Weights and Connections" (NeurIPS 2015) for
magnitude pruning; Li et al., "Pruning Filters for Efficient ConvNets" (ICLR 2017) for
L1/L2 filter pruning; INC's snip-momentum criterion (a momentum-smoothed
|weight x gradient| score, after Lee et al., "SNIP", ICLR 2019); Mishra et al.,
"Accelerating Sparse Deep Neural Networks" (2021) for N:M (2:4) sparsity.

Two paths, chosen by the config:

- ``pattern=channel`` with ``criterion=l1|l2|geometric_median``: filters are ranked by
  norm (or distance to the geometric median, He et al., "FPGM", CVPR 2019) and
  physically removed from the ONNX graph with the matching input channels of their
  consumers (:mod:`robustedge.compressors.channel_surgery`); parameters and MACs
  really drop, and onnxruntime runs faster (most when kept channel counts are
  multiples of its convolution block, 8 or 16: see ``round_to``). No torch needed.
  With ``steps > 0`` the smaller graph is then fine-tuned through the bridge.
- everything else (unstructured, NxM blocks such as 4x1, N:M such as 2:4, and channel
  with magnitude/snip-momentum): the model is converted to a torch module by
  :mod:`robustedge.bridge`, INC prunes its Conv2d/Linear layers (one shot, or during a
  short fine-tune on the training split), and the pruned weights are written back into
  the ORIGINAL ONNX initializers with the bridge's ``write_back``: the graph stays as
  uploaded. Channel patterns pruned this way are then physically removed as well.

``sparsity`` is the fraction of the prunable layers' weights (Conv/Gemm/MatMul)
removed. For channel pruning it is the fraction of the Conv weights removed
(``budget=parameters``; removing a filter also removes the next layer's input
channels, so about 1 - sqrt(1 - sparsity) of the filters go), or with
``budget=filters`` the fraction of each layer's filters. ``layer_sparsity`` sets that
filter fraction per Conv layer (keyed by weight initializer; the names
:func:`robustedge.compressors.prunable_channel_layers` lists), which is what a
robustness-aware search varies; unnamed layers keep ``sparsity``.

Fine-tunes (``steps > 0``, both paths) may be adversarial: ``adversarial_epsilon > 0``
replaces ``adversarial_fraction`` of every batch with L-inf PGD examples crafted
against the network being trained (Madry et al., ICLR 2018; see
:mod:`robustedge.compressors.adversarial_training`), so that the pruned network
recovers robustness and not only clean accuracy.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Any

import onnx

from .base import CompressionData, Compressor
from .channel_surgery import prune_channels
from .config import option
from .errors import ConfigError
from .registry import register

logger = logging.getLogger(__name__)

_BLOCK = re.compile(r"^([1-9]\d*)x([1-9]\d*)$")
_N_OF_M = re.compile(r"^([1-9]\d*):([1-9]\d*)$")
# Criteria computed on the ONNX graph by channel surgery (no INC, no torch).
_FILTER_CRITERIA = ("l1", "l2", "geometric_median")


@dataclass
class PruneConfig:
    """Settings of the ``prune`` compressor."""

    pattern: str = option(
        "unstructured",
        "which weights go together: unstructured, NxM blocks (e.g. 4x1), "
        "N:M (e.g. 2:4: N zeros in every M consecutive input weights) or channel "
        "(whole filters)",
        pattern_help="unstructured | channel | <N>x<M> | <N>:<M>",
    )
    sparsity: float | None = option(
        None,
        "target fraction of the prunable layers' weights removed (channel: of the Conv "
        "weights; with budget=filters: fraction of filters per layer); default 0.5, "
        "and N/M for N:M patterns (at most N/M: that share of M-blocks made N:M sparse)",
        minimum=0.1,
        maximum=0.9,
    )
    criterion: str | None = option(
        None,
        "importance score: magnitude, snip_momentum (INC), or l1/l2 filter norm or "
        "geometric_median (FPGM) "
        "(channel only); default l2 for channel, magnitude otherwise",
        choices=("magnitude", "snip_momentum", "snip-momentum", "l1", "l2", "geometric_median"),
    )
    steps: int = option(
        0,
        "fine-tune steps on the training split while pruning (0: one-shot pruning)",
        minimum=0,
        maximum=100000,
    )
    learning_rate: float = option(1e-3, "fine-tune learning rate (Adam)", minimum=1e-7, maximum=1.0)
    batch_size: int = option(32, "fine-tune batch size", minimum=1, maximum=4096)
    budget: str | None = option(
        None,
        "channel pattern: parameters (sparsity = share of the Conv weights removed, "
        "one channel fraction for all layers) or filters (share of each layer's filters); "
        "default parameters, and filters with layer_sparsity",
        choices=("parameters", "filters"),
    )
    # option() returns a dataclasses.field (ruff only knows field() by name).
    layer_sparsity: dict[str, float] | None = option(  # noqa: RUF009
        None,
        "channel pattern: filter fraction per layer, keyed by Conv weight initializer "
        "name (a named layer's channel group loses round(fraction x channels) filters; "
        "0 keeps it whole); layers not named lose the sparsity fraction of their filters "
        "(implies budget=filters); round_to still applies",
        minimum=0.0,
        maximum=0.9,
    )
    physical: bool = option(
        True, "channel pattern: physically remove pruned channels (false: zero them only)"
    )
    round_to: int = option(
        1,
        "channel pattern: round every layer's kept channel count to a multiple of this "
        "(8 or 16 let onnxruntime's blocked convolution kernels run the smaller layers "
        "at full speed; 1: exact fractions)",
        minimum=1,
        maximum=128,
    )
    scope: str = option(
        "global",
        "INC pruning scope: global (scores ranked across layers, INC's default) or local "
        "(every layer pruned to the target)",
        choices=("global", "local"),
    )
    adversarial_epsilon: float = option(
        0.0,
        "adversarial fine-tune (Madry et al.): L-inf radius, in input units, of the PGD "
        "examples mixed into each fine-tune batch (0: plain fine-tune; needs steps > 0)",
        minimum=0.0,
        maximum=1000.0,
    )
    adversarial_steps: int = option(
        5, "adversarial fine-tune: PGD steps per batch", minimum=1, maximum=50
    )
    adversarial_fraction: float = option(
        0.5,
        "adversarial fine-tune: share of each batch replaced by its PGD examples",
        minimum=0.0,
        maximum=1.0,
    )

    def resolve(self) -> None:
        self.pattern = self.pattern.strip().lower()
        if self.criterion is None:
            self.criterion = "l2" if self.pattern == "channel" else "magnitude"
        self.criterion = self.criterion.replace("-", "_")
        if self.budget is None:
            self.budget = "filters" if self.layer_sparsity is not None else "parameters"
        n_of_m = _N_OF_M.match(self.pattern)
        if self.sparsity is None:
            self.sparsity = 0.5
            if n_of_m and int(n_of_m.group(1)) < int(n_of_m.group(2)):
                self.sparsity = round(int(n_of_m.group(1)) / int(n_of_m.group(2)), 6)

    def check(self) -> None:
        if not (
            self.pattern in ("unstructured", "channel")
            or _BLOCK.match(self.pattern)
            or _N_OF_M.match(self.pattern)
        ):
            raise ConfigError(
                "pattern",
                f"must be unstructured, channel, NxM (e.g. 4x1) or N:M (e.g. 2:4), "
                f"got {self.pattern!r}",
            )
        match = _N_OF_M.match(self.pattern)
        if match and int(match.group(1)) >= int(match.group(2)):
            raise ConfigError("pattern", f"N:M needs N < M, got {self.pattern!r}")
        if match and self.sparsity is not None:
            most = int(match.group(1)) / int(match.group(2))
            if self.sparsity > most + 1e-9:
                raise ConfigError(
                    "sparsity",
                    f"pattern {self.pattern} (N zeros in every M weights) reaches at most "
                    f"{most:g}, got {self.sparsity:g}",
                )
        if self.sparsity is None or not 0.1 <= self.sparsity <= 0.9:
            raise ConfigError("sparsity", f"must be in [0.1, 0.9], got {self.sparsity}")
        if self.criterion in _FILTER_CRITERIA and self.pattern != "channel":
            raise ConfigError(
                "criterion", f"{self.criterion} filter criterion applies only to pattern channel"
            )
        if self.round_to > 1 and self.pattern != "channel":
            raise ConfigError("round_to", "applies only to pattern channel")
        if self.criterion in _FILTER_CRITERIA and not self.physical:
            raise ConfigError(
                "physical", f"{self.criterion} filter pruning always removes channels"
            )
        if self.layer_sparsity is not None:
            if self.pattern != "channel":
                raise ConfigError("layer_sparsity", "applies only to pattern channel")
            if self.budget != "filters":
                raise ConfigError(
                    "budget", "layer_sparsity gives filter fractions: it needs budget filters"
                )
        if self.adversarial_epsilon > 0:
            if self.steps == 0:
                raise ConfigError(
                    "adversarial_epsilon",
                    "adversarial fine-tuning needs fine-tune steps (steps > 0)",
                )
            if self.adversarial_fraction == 0:
                raise ConfigError(
                    "adversarial_fraction",
                    "0 mixes no adversarial example into the fine-tune; "
                    "set adversarial_epsilon 0 for a plain fine-tune",
                )


@register
class PruneCompressor(Compressor):
    """Pruning: INC through the bridge (unstructured, NxM, N:M, channel) or filter surgery."""

    name = "prune"
    description = (
        "weight pruning: INC 3.7.1 pruning through the ONNX->torch bridge (unstructured, NxM "
        "blocks, N:M, channel; magnitude or snip-momentum; one-shot or fine-tune), written "
        "back into the original graph; L1/L2/geometric-median channel pruning physically "
        "removes filters"
    )
    Config = PruneConfig

    def config_dict(self, config: Any) -> dict[str, Any]:
        values = super().config_dict(config)
        if config.adversarial_epsilon == 0:
            # A plain fine-tune never reads the PGD knobs; a report lists what acted.
            values.pop("adversarial_steps", None)
            values.pop("adversarial_fraction", None)
        return values

    def apply(
        self, model: onnx.ModelProto, config: PruneConfig, data: CompressionData
    ) -> onnx.ModelProto:
        if config.pattern == "channel" and config.criterion in _FILTER_CRITERIA:
            return self._filter_surgery(model, config, data)
        from .inc_pruning import prune_with_inc

        pruned, facts = prune_with_inc(model, config, data)
        if config.pattern == "channel" and config.physical:
            pruned, surgery = _remove_zero_channels(pruned)
            facts["surgery"] = surgery
        self._last_facts = facts
        return pruned

    def _filter_surgery(
        self, model: onnx.ModelProto, config: PruneConfig, data: CompressionData
    ) -> onnx.ModelProto:
        # resolved by PruneConfig
        assert config.criterion is not None and config.sparsity is not None
        assert config.budget is not None
        pruned, info = prune_channels(
            model,
            config.sparsity,
            norm=config.criterion,
            budget=config.budget,
            round_to=config.round_to,
            layer_fractions=config.layer_sparsity,
        )
        if config.steps > 0:
            from .inc_pruning import fine_tune

            pruned, tune_facts = fine_tune(pruned, config, data)
            info["fine_tune"] = tune_facts
        self._last_facts = {"channels": info}
        return pruned


def _remove_zero_channels(model: onnx.ModelProto) -> tuple[onnx.ModelProto, dict[str, Any]]:
    """Physically drops Conv output channels whose filters are entirely zero."""
    from .channel_surgery import remove_zero_channels

    return remove_zero_channels(model)
