"""Model zoo: one module per family, each registered with gin under its class name.

Importing this package registers every family, so gin files can say
``fit.model = @CNN1D``. ``REGISTRY`` maps the gin name of every deep family
(an ``nn.Module`` taking ``(batch, in_channels, 187)`` and returning logits
``(batch, num_classes)``) to its class; ``BASELINES`` does the same for the
classical models, which are fitted in one call instead of by the epoch loop.
"""

from heartbeat.models.baseline import GBTBaseline, LDABaseline
from heartbeat.models.cnn1d import CNN1D
from heartbeat.models.cnn2d import CNN2D
from heartbeat.models.ensemble import Ensemble
from heartbeat.models.gru import GRU
from heartbeat.models.resnet1d import ResNet1D
from heartbeat.models.transformer import Transformer

REGISTRY: dict[str, type] = {
    "CNN1D": CNN1D,
    "CNN2D": CNN2D,
    "GRU": GRU,
    "Transformer": Transformer,
    "ResNet1D": ResNet1D,
}
BASELINES: dict[str, type] = {"GBTBaseline": GBTBaseline, "LDABaseline": LDABaseline}

__all__ = ["BASELINES", "REGISTRY", "CNN1D", "CNN2D", "Ensemble", "GRU", "GBTBaseline", "LDABaseline", "ResNet1D", "Transformer"]
