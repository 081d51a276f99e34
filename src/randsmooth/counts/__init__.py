"""Per-example class-count tables: the one home of their schema, reading, writing and budgets.

One row per test example. The certification engine (:mod:`randsmooth.engine`) fills the count
columns; radii and metrics are computed later from these counts (:mod:`randsmooth.decide`,
:mod:`randsmooth.metrics`), so one sampling run serves every alpha, norm and cost matrix.

Parquet schema (``randsmooth.schema`` = "1")
--------------------------------------------

=====================  ========================  ===============================================
column                 type                      meaning
=====================  ========================  ===============================================
``idx``                int64                     index of the example in the dataset split
``label``              int64                     its true class
``num_classes``        int32                     K, the length of every count vector
``counts_selection``   list<int64> (len K)       class counts of the n0 selection samples
``counts_estimation``  list<int64> (len K)       class counts of the n separate estimation samples
``prefix_budgets``     list<int64>               sorted budgets n' (10^2, 10^3, ... < n, then n)
``counts_prefix``      list<list<int64>>         cumulative estimation counts of the first n'
                                                 samples, one length-K row per budget; the last
                                                 row equals ``counts_estimation``
``n0``                 int64                     number of selection samples
``n``                  int64                     number of estimation samples
``noise``              string                    noise family (:func:`randsmooth.sampling.get_noise`)
``noise_params``       string                    family parameters as JSON with sorted keys
``sigma``              float64                   per-coordinate RMS of the noise ([0, 1] pixel units, or normalised
                                                 units in the ``normalized`` noise space)
``dim``                int64                     d = C*H*W, the number of noised coordinates
``seed``               int64                     global seed of the noise streams
``noise_block``        int64                     samples per independently seeded noise block
``model_id``           string                    checkpoint file name + ":" + sha256[:16] of its bytes
``time_s``             float64                   wall time for this example (both stages), seconds
``version``            string                    ``randsmooth.__version__`` that wrote the row
=====================  ========================  ===============================================

File-level key-value metadata: ``randsmooth.schema`` = "1" and ``randsmooth.settings`` = the full
run settings as JSON (:class:`RunSettings`: checkpoint path, dataset and options, split, index
spec, sampling sizes, seed, batch, device, torch version, the noise RNG scheme ``rng``, the
engine's ``fast`` / ``compile`` modes, ...). Settings written before ``rng`` was recorded read as
``rng = "block-v1"`` (the scheme of that time), before ``fast`` / ``compile`` as false.

"""

from .access import (
    common_budgets,
    estimation_counts,
    int_column,
    noise_from_table,
    noise_groups,
    require_columns,
    samples_used,
    selection_counts,
    synthetic_table,
)
from .io import read_arrow, read_settings, read_table, records_to_table, with_settings, write_atomic, write_table
from .settings import (
    ARROW_SCHEMA,
    CONSISTENCY_FIELDS,
    DEFAULT_RNG,
    LEGACY_RNG,
    RESUME_FIELDS,
    RNG_SCHEMES,
    SCHEMA_VERSION,
    ExampleRecord,
    RunSettings,
    check_int,
    default_prefix_budgets,
    noise_params_json,
)
from .spec import RUN_DEFAULTS, RunSpec

__all__ = [
    "ARROW_SCHEMA",
    "CONSISTENCY_FIELDS",
    "DEFAULT_RNG",
    "LEGACY_RNG",
    "RNG_SCHEMES",
    "RESUME_FIELDS",
    "SCHEMA_VERSION",
    "ExampleRecord",
    "RunSettings",
    "RunSpec",
    "RUN_DEFAULTS",
    "check_int",
    "common_budgets",
    "default_prefix_budgets",
    "estimation_counts",
    "int_column",
    "noise_from_table",
    "noise_groups",
    "noise_params_json",
    "read_arrow",
    "read_settings",
    "read_table",
    "records_to_table",
    "require_columns",
    "samples_used",
    "selection_counts",
    "synthetic_table",
    "with_settings",
    "write_atomic",
    "write_table",
]
