"""``heartbeat <verb>``: the command-line layer, the only code that reads files it was not given."""

from __future__ import annotations

import argparse
import socket
import sys
from pathlib import Path

from heartbeat.data import SYNTHETIC_WARNING, DataError, read_beats, write_beats
from heartbeat.data.sources import describe, load_dataset

EPILOG_DATA = """
Data sources, in order: --data PATH, else $HEARTBEAT_DATA, else the project's data/ folder,
else the built-in SYNTHETIC beats (said loudly). A folder may hold the course parquet files
(heart_big_train.parq + heart_big_test.parq), Kaggle's CSV files (mitbih_train.csv +
mitbih_test.csv, ptbdb_normal.csv + ptbdb_abnormal.csv) or raw MIT-BIH WFDB records.
"""


def warn_if_synthetic(dataset) -> None:
    if dataset.synthetic:
        print("\n" + SYNTHETIC_WARNING + "\n", file=sys.stderr)


# ---------------------------------------------------------------- data
def cmd_data_build(args) -> int:
    from heartbeat.data.splits import split
    from heartbeat.data.wfdb_beats import build_beats

    def progress(i, n, name):
        print(f"\r  record {name} ({i}/{n})", end="", file=sys.stderr, flush=True)

    beats, report = build_beats(args.mitdb, progress=progress)
    print(file=sys.stderr)
    out = Path(args.out)
    print(f"built {len(beats)} beats from {len(report.records)} records in {report.seconds:.1f} s")
    print(f"{'class':<6}{'annotated':>10}{'built':>10}")
    for c in report.built:
        print(f"{c:<6}{report.annotated[c]:>10}{report.built[c]:>10}")
    dropped = sum(report.annotated.values()) - sum(report.built.values())
    print(f"dropped {dropped} beats cut off by the end of their record; "
          f"{report.non_beat_annotations} non-beat annotations (rhythm, noise, ...) skipped")
    for note in report.lead_notes:
        print("note:", note)
    if args.split == "none":
        print("wrote", write_beats(beats, out / "beats.parq"))
    else:
        train, test = split(beats, args.split, seed=args.seed)
        print("wrote", write_beats(train, out / "heart_big_train.parq"), f"({describe(train)})")
        print("wrote", write_beats(test, out / "heart_big_test.parq"), f"({describe(test)})")
    return 0


def cmd_data_check(args) -> int:
    beats = read_beats(args.file, task=args.task)
    print(f"{args.file}: OK, task {beats.task}, shape {beats.X.shape}")
    print("classes:", describe(beats))
    if beats.record is not None:
        print(f"records: {len(set(beats.record))}")
    for line in beats.report.lines():
        print("  " + line)
    return 0


def cmd_data_show(args) -> int:
    ds = load_dataset(args.data, task=args.task, split_how=args.split, seed=args.seed)
    warn_if_synthetic(ds)
    print("source:", ds.source)
    print(f"train: {len(ds.train)} beats: {describe(ds.train)}")
    print(f"test:  {len(ds.test)} beats: {describe(ds.test)}")
    return 0


def cmd_data_download(args) -> int:
    host = "physionet.org"
    try:
        socket.create_connection((host, 443), timeout=5).close()
    except OSError as exc:
        print(f"cannot reach {host} ({exc}). Other ways to get data:\n"
              "  - copy the MIT-BIH WFDB records (NNN.hea/.dat/.atr) into data/mitdb/ or any folder,\n"
              "    then pass --data FOLDER or set HEARTBEAT_DATA=FOLDER;\n"
              "  - put the course files heart_big_train.parq + heart_big_test.parq in data/;\n"
              "  - put Kaggle's mitbih_train.csv + mitbih_test.csv (or ptbdb_*.csv) in data/;\n"
              "  - run without data: the built-in synthetic beats are used (not ECG).", file=sys.stderr)
        return 2
    import wfdb

    Path(args.out).mkdir(parents=True, exist_ok=True)
    wfdb.dl_database("mitdb", dl_dir=args.out)
    print("downloaded MIT-BIH Arrhythmia Database into", args.out)
    return 0


# ---------------------------------------------------------------- parser
def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="heartbeat", description=__doc__.split("\n")[0].strip("`"),
                                formatter_class=argparse.RawDescriptionHelpFormatter, epilog=EPILOG_DATA)
    sub = p.add_subparsers(dest="verb", required=True)

    data = sub.add_parser("data", help="build, check, show or download data", epilog=EPILOG_DATA,
                          formatter_class=argparse.RawDescriptionHelpFormatter)
    dsub = data.add_subparsers(dest="action", required=True)
    b = dsub.add_parser("build", help="build course-format parquet beats from raw MIT-BIH WFDB records")
    b.add_argument("--mitdb", required=True, help="folder of WFDB records (NNN.hea, NNN.dat, NNN.atr)")
    b.add_argument("--out", required=True, help="output folder")
    b.add_argument("--split", choices=["intra", "inter", "none"], default="intra",
                   help="intra: stratified by beat 80/20 (Kaggle-like); inter: by record, no patient on both "
                        "sides; none: one beats.parq (default: intra)")
    b.add_argument("--seed", type=int, default=0, help="split seed (default: 0)")
    b.set_defaults(func=cmd_data_build)
    c = dsub.add_parser("check", help="validate a beat file and print its shape, classes and load report")
    c.add_argument("file", help=".parq/.parquet or .csv beat file")
    c.add_argument("--task", choices=["mitbih", "ptb"], default=None, help="default: from the file name or labels")
    c.set_defaults(func=cmd_data_check)
    s = dsub.add_parser("show", help="resolve the data source and print the train/test class counts")
    add_data_args(s)
    s.set_defaults(func=cmd_data_show)
    d = dsub.add_parser("download", help="fetch MIT-BIH from PhysioNet through wfdb (needs internet)")
    d.add_argument("--out", default="data/mitdb", help="output folder (default: data/mitdb)")
    d.set_defaults(func=cmd_data_download)
    return p


def add_data_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", default=None, help="data file or folder (default: $HEARTBEAT_DATA, data/, synthetic)")
    p.add_argument("--task", choices=["mitbih", "ptb"], default="mitbih", help="default: mitbih")
    p.add_argument("--split", choices=["intra", "inter"], default="intra",
                   help="how a source without its own test file is split (default: intra)")
    p.add_argument("--seed", type=int, default=0, help="split seed (default: 0)")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (DataError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
