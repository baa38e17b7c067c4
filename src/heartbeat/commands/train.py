"""``heartbeat`` verbs: train one model from a gin file (the API's heartbeat.train, with progress per epoch)."""

from __future__ import annotations

import argparse
from pathlib import Path

from heartbeat.commands import warn_if_synthetic
from heartbeat.options import EPILOG_DATA, add_data_args, add_device_arg


def set_threads(n: int | None) -> None:
    import torch

    torch.set_num_threads(n or torch.get_num_threads())


def epoch_line(row: dict) -> str:
    return (f"epoch {row['epoch']:>3}  loss {row['loss']:.4f}  {row['objective_name']} {row['objective']:.4f}  "
            f"recall_macro {row['recall_macro']:.4f}  lr {row['lr']:.2e}  {row['seconds']:.1f}s")


def cmd_train(args) -> int:
    from heartbeat.api import config_values, refuse_existing, train
    from heartbeat.data import valid_split
    from heartbeat.data.sources import describe, load_dataset

    out = Path(args.out or Path("models") / Path(args.gin).stem)
    refuse_existing(out, "give --force to overwrite it", args.force)  # before any data is read or epoch run
    set_threads(args.threads)
    inputs, objective = config_values(args.gin, args.bind)
    ds = load_dataset(args.data, task=args.task, split_how=args.split, seed=args.seed, holdout=args.holdout,
                      window=inputs.window)
    warn_if_synthetic(ds)
    train_side, valid = valid_split(ds, args.valid_size, args.seed)
    print(f"data: {ds.source}\ntrain {len(train_side)} beats ({describe(train_side)})\nvalid {len(valid)} beats")

    def show(row, _model):
        print(epoch_line({**row, "objective_name": objective}), flush=True)

    model = train(args.gin, args.bind, data=ds, out=out, epochs=args.epochs, valid_size=args.valid_size,
                  seed=args.seed, device=args.device, on_epoch=show, force=True)
    m, best = model.info.valid, model.info.best_epoch
    print(f"best epoch {best}: {objective} {m[objective]:.4f}, recall_macro {m['recall_macro']:.4f}, "
          f"f1_macro {m['f1_macro']:.4f}; per-class recall "
          + " ".join(f"{c} {m['recall_' + c]:.3f}" for c in model.classes))
    print("wrote", out)
    return 0


def add_parsers(sub) -> None:
    """Register this module's verbs on the CLI's subparsers."""
    t = sub.add_parser("train", help="train one model from a gin file and write a model folder",
                       epilog="example: heartbeat train gin/models/cnn1d.gin --bind 'CNN1D.channels = 64' "
                              "--epochs 5 --out models/try\n" + EPILOG_DATA,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    t.add_argument("gin", help="model gin file, e.g. gin/models/cnn1d.gin or gin/best/<tag>.gin")
    t.add_argument("--bind", action="append", default=[], metavar="'NAME = VALUE'",
                   help="extra gin binding, repeatable (e.g. --bind 'fit.learning_rate = 0.001')")
    add_data_args(t)
    t.add_argument("--epochs", type=int, default=None, help="stop after N epochs (default: fit.epochs)")
    t.add_argument("--valid-size", type=float, default=0.2, help="share of train carved out for validation (0.2)")
    t.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's own)")
    t.add_argument("--out", default=None, help="model folder (default: models/<gin file stem>)")
    t.add_argument("--force", action="store_true",
                   help="overwrite the model folder if it exists (without it, an existing folder is refused)")
    add_device_arg(t)
    t.set_defaults(func=cmd_train)
