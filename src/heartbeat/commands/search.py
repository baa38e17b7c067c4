"""``heartbeat`` verbs: the hyperparameter search (the same as hypertune.py) and Table 3's ablations."""

from __future__ import annotations

import argparse
import sys

from heartbeat.choices import SPLITS, Split
from heartbeat.options import TUNE_DESCRIPTION, TUNE_EPILOG, add_search_flags, add_tune_args


def cmd_tune(args) -> int:
    from heartbeat.tuning.tune import cli as tune_cli

    return tune_cli(args, ["heartbeat", *sys.argv[1:]])  # messages (and the resume hint) quote this command


def cmd_ablate(args) -> int:
    if args.adapt:  # per-patient batch norm on the folds (it brings torch)
        from heartbeat.evaluation.adapt import main_cli as adapt_cli

        return adapt_cli(args)
    from heartbeat.evaluation.ablation import main_cli

    return main_cli(args)


def add_parsers(sub) -> None:
    """Register this module's verbs on the CLI's subparsers."""
    tu = sub.add_parser("tune", aliases=["search"], help="hyperparameter search with Ray Tune (the same as python hypertune.py)",
                        description=TUNE_DESCRIPTION, epilog=TUNE_EPILOG,
                        formatter_class=argparse.RawDescriptionHelpFormatter)
    add_tune_args(tu)
    add_search_flags(tu)
    tu.set_defaults(func=cmd_tune)

    ab = sub.add_parser("ablate", help="Table 3: the base model, then one change per row, each trained the same "
                                       "way over several seeds -> results/table3/",
                        description="Train the base gin file and each variant of heartbeat.evaluation.ablation.VARIANTS "
                                    "(imbalance handling, dropout, width, depth, kernel, augmentation, rhythm, "
                                    "window, another family, a 5-seed ensemble) with the same data, split and "
                                    "epochs, once per seed, JOBS at a time on one thread each. Finished runs are "
                                    "kept in runs.csv and "
                                    "skipped on a rerun; table.csv holds the mean and spread over seeds.",
                        epilog="examples:\n  heartbeat ablate --base gin/best/cnn1d-ds1ds2.gin --split ds1ds2  (make ablate)\n"
                               "  heartbeat ablate --folds 5 --seeds 0  (make ablate-cv: every row on DS1's "
                               "5 patient-grouped folds)\n"
                               "  heartbeat ablate --folds 5 --seeds 0 1 2 --adapt  (make adapt-cv: the base with "
                               "per-patient batch norm, on the same folds)",
                        formatter_class=argparse.RawDescriptionHelpFormatter)
    ab.add_argument("--base", default="gin/best/cnn1d-ds1ds2.gin", help="the base model's gin file")
    ab.add_argument("--split", choices=SPLITS, default=Split.DS1DS2.value, help=f"default: {Split.DS1DS2}")
    ab.add_argument("--data", default=None, help="data source (default: $HEARTBEAT_DATA, data/; real data only)")
    ab.add_argument("--seeds", nargs="+", default=["0", "1"], help="fit seeds per row (default: 0 1)")
    ab.add_argument("--jobs", type=int, default=2, help="trainings at once, one thread each (default: 2)")
    ab.add_argument("--only", nargs="*", default=None, metavar="VARIANT", help="run only these rows (labels)")
    ab.add_argument("--folds", type=int, default=None, metavar="K",
                    help="score each row for selection on K patient-grouped folds of the training side (DS1) "
                         "instead, pooled; the test side is not used -> OUT/cv.csv, cv_table.csv")
    ab.add_argument("--adapt", action="store_true",
                    help="with --folds: train the base once per fold and score it with and without per-patient "
                         "batch-norm statistics (heartbeat.evaluation.adapt.MODES) -> OUT/adapt_cv.csv, "
                         "adapt_cv_table.csv")
    ab.add_argument("--out", default="results/table3", help="output folder (default: results/table3)")
    ab.set_defaults(func=cmd_ablate)
