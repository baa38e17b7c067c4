"""``heartbeat`` verbs: data: build beats from WFDB records, check a beat file, show a source's classes, download."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from heartbeat.choices import SPLITS, TASKS, WINDOWS
from heartbeat.commands import warn_if_synthetic
from heartbeat.options import EPILOG_DATA, add_data_args


def cmd_data_build(args) -> int:
    from heartbeat.data import write_beats
    from heartbeat.data.sources import describe
    from heartbeat.data.splits import protocol_beats, split
    from heartbeat.data.wfdb_beats import build_beats

    def progress(i, n, name):
        print(f"\r  record {name} ({i}/{n})", end="", file=sys.stderr, flush=True)

    beats, report = build_beats(args.mitdb, progress=progress, window=args.window)
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
        if args.split == "ds1ds2":
            beats, note = protocol_beats(beats)
            print(note)
        train, test = split(beats, args.split, seed=args.seed)
        print("wrote", write_beats(train, out / "heart_big_train.parq"), f"({describe(train)})")
        print("wrote", write_beats(test, out / "heart_big_test.parq"), f"({describe(test)})")
    return 0


def cmd_data_check(args) -> int:
    from heartbeat.data import read_beats
    from heartbeat.data.sources import describe

    beats = read_beats(args.file, task=args.task)
    print(f"{args.file}: OK, task {beats.task}, shape {beats.X.shape}")
    print("classes:", describe(beats))
    if beats.record is not None:
        print(f"records: {len(set(beats.record))}")
    for line in beats.report.lines():
        print("  " + line)
    return 0


def cmd_data_show(args) -> int:
    from heartbeat.data.sources import describe, load_dataset

    ds = load_dataset(args.data, task=args.task, split_how=args.split, seed=args.seed, holdout=args.holdout)
    warn_if_synthetic(ds)
    print("source:", ds.source)
    print(f"train: {len(ds.train)} beats: {describe(ds.train)}")
    print(f"test:  {len(ds.test)} beats: {describe(ds.test)}")
    if ds.holdout is not None:
        print(f"holdout (records {','.join(ds.holdout_records)}, in neither train nor test): "
              f"{len(ds.holdout)} beats: {describe(ds.holdout)}")
    return 0


OFFLINE_HINT = """Other ways to get data:
  - copy the MIT-BIH WFDB records (NNN.hea/.dat/.atr) into data/mitdb/ or any folder,
    then pass --data FOLDER or set HEARTBEAT_DATA=FOLDER;
  - put the course files heart_big_train.parq + heart_big_test.parq in data/;
  - put Kaggle's mitbih_train.csv + mitbih_test.csv (or ptbdb_*.csv) in data/;
  - run with no data at all: the embedded sample (4 real MIT-BIH records) is used."""

EPILOG_DOWNLOAD = """Examples:
  heartbeat data download                          # all 48 records into data/mitdb (about 95 MB)
  heartbeat data download --records 100,101,208    # only these
  heartbeat data download --out /data/mitdb        # elsewhere; then --data /data/mitdb
  heartbeat data download --url https://mirror.example/files/   # a mirror holding mitdb/1.0.0/

Files come from <url>/mitdb/1.0.0/ (wfdb's PhysioNet index URL, https://physionet.org/files/
unless --url or $HEARTBEAT_PHYSIONET_URL say otherwise), one line per record. Run it again to
resume: files already present and correct are skipped, partial ones fetched again; a file is
written as NAME.part and renamed once it checks out. Every file is checked against the
server's SHA256SUMS.txt where it has one, and every record is read with wfdb (header, signal
as long as the header says, annotations). A file that does not match is an error naming it,
the hash expected and the hash got; exit code 1 (2 where the server cannot be reached).

Then: heartbeat data build --mitdb data/mitdb --out data --split ds1ds2

Licence: the MIT-BIH Arrhythmia Database is under the Open Data Commons Attribution License
v1.0 (ODC-By 1.0). Cite: Moody GB, Mark RG. The impact of the MIT-BIH Arrhythmia Database.
IEEE Eng in Med and Biol 20(3):45-50 (2001); and Goldberger AL et al. PhysioBank,
PhysioToolkit, and PhysioNet. Circulation 101(23):e215-e220 (2000).
"""


def cmd_data_download(args) -> int:
    from heartbeat.data.download import ServerUnreachable, download_mitdb

    records = args.records.split(",") if args.records else None
    try:
        report = download_mitdb(args.out, records=records, url=args.url, progress=print)
    except ServerUnreachable as exc:
        print(f"error: {exc}\n{OFFLINE_HINT}", file=sys.stderr)
        return 1  # not a usage error: exit 1, as every error but usage (heartbeat.errors)
    print(report.summary())
    return 0


def add_parsers(sub) -> None:
    """Register this module's verbs on the CLI's subparsers."""
    data = sub.add_parser("data", help="build, check, show or download data", epilog=EPILOG_DATA,
                          formatter_class=argparse.RawDescriptionHelpFormatter)
    dsub = data.add_subparsers(dest="action", required=True)
    b = dsub.add_parser("build", help="build course-format parquet beats from raw MIT-BIH WFDB records")
    b.add_argument("--mitdb", required=True, help="folder of WFDB records (NNN.hea, NNN.dat, NNN.atr)")
    b.add_argument("--out", required=True, help="output folder")
    b.add_argument("--split", choices=(*SPLITS, "none"), default="intra",
                   help="intra: stratified by beat 80/20 (Kaggle-like); inter: by record, no patient on both "
                        "sides; ds1ds2: de Chazal's DS1 (train) and DS2 (test), paced records and Q beats "
                        "left out; none: one beats.parq (default: intra)")
    b.add_argument("--window", choices=WINDOWS, default="kachuee",
                   help="kachuee: the beat starts at its R peak (the course's format); pwave: 0.28 s before it, "
                        "holding the P wave (default: kachuee). Every beat also gets its rhythm columns "
                        "(pre_rr, post_rr, ... in seconds and ratios), its R peak's sample and time.")
    b.add_argument("--seed", type=int, default=0, help="split seed (default: 0)")
    b.set_defaults(func=cmd_data_build)
    c = dsub.add_parser("check", help="validate a beat file and print its shape, classes and load report")
    c.add_argument("file", help=".parq/.parquet or .csv beat file")
    c.add_argument("--task", choices=TASKS, default=None, help="default: from the file name or labels")
    c.set_defaults(func=cmd_data_check)
    s = dsub.add_parser("show", help="resolve the data source and print the train/test class counts")
    add_data_args(s)
    s.set_defaults(func=cmd_data_show)
    d = dsub.add_parser("download", help="fetch MIT-BIH from PhysioNet through wfdb (needs internet), "
                                         "resumable and checked", epilog=EPILOG_DOWNLOAD,
                        formatter_class=argparse.RawDescriptionHelpFormatter)
    d.add_argument("--out", default="data/mitdb", help="output folder (default: data/mitdb)")
    d.add_argument("--records", default=None, metavar="100,101,...",
                   help="comma-separated record names (default: every record in the server's RECORDS)")
    d.add_argument("--url", default=None,
                   help="index URL holding mitdb/1.0.0/ (default: $HEARTBEAT_PHYSIONET_URL, else wfdb's "
                        "https://physionet.org/files/)")
    d.set_defaults(func=cmd_data_download)
