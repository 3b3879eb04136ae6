"""What a preset measured over several seeds on a given dataset (mean ± sample standard deviation), copied from a
committed benchmark JSON; a model card quotes it beside its own run's figures when that run trained the same preset
on the very same data (`seed_reference_for`: the same files, byte for byte, and the same text and label columns).

Only what a committed JSON measured is here. IMDB has no mean of seeds yet (its figures in hf_bilstm.presets are
single runs): `python scripts/benchmark_cpu_presets.py --preset cpu --seeds 3` measures one.
"""

import dataclasses
import os
from dataclasses import dataclass

from .folder import file_sha256


@dataclass(frozen=True)
class SeedReference:
    """
    One preset on one dataset, over seeds. `files`: what the data flags named, by flag (a folder's files as
    `--dataset/<name>`), each file's sha256; `figures`: test metric → (mean, sample standard deviation).
    """

    preset: str
    data: str  # how a card names the data
    flags: str  # the data flags the benchmark gave (the training flags were the defaults)
    files: dict
    text_columns: tuple
    label_columns: tuple
    figures: dict
    seeds: tuple
    wall_seconds_max: float
    device: str
    result: str
    commit: str


OWN_DATA_3_SEEDS = dict(
    preset="cpu",  # `--preset auto` on a CPU
    seeds=(42, 1, 2),
    device="CPU: AMD EPYC (Zen 1, AVX2 only), 2 cores, torch 2.13.0+cpu, 2 threads",
    result="benchmarks/results/2026-12-06-own-data-3-seeds.json",
    commit="0995de7",
)
# ../shared/data/own as shipped (SOURCES.md there): scripts/benchmark_own_data.py --seeds 42 1 2.
SEED_REFERENCES = (
    SeedReference(
        data="TREC-6 questions (`trec/`: train.csv, test.csv)",
        flags="--dataset own/trec --text_column question --label_column category",
        files={
            "--dataset/test.csv": "0f39cec6fd4f742967231af56271ea5f8758d774fe134aa0141c76bf1f0088d4",
            "--dataset/train.csv": "c9d53c4aa093386f9d6a5dc6b264c375c20b9a6df6160a8916a149f87c7624e3",
        },
        text_columns=("question",),
        label_columns=("category",),
        figures={"accuracy": (0.8807, 0.0147), "f1": (0.8738, 0.0138)},
        wall_seconds_max=111.0,
        **OWN_DATA_3_SEEDS,
    ),
    SeedReference(
        data="SST-2 (`sst2/`: train.tsv, dev.tsv as the test split)",
        flags="--train_file own/sst2/train.tsv --test_file own/sst2/dev.tsv --text_column sentence",
        files={
            "--train_file": "ea1d3a3e1cb08c90621b2ee87fa8668368b9b51490c9e96dc39d1fc3d17e1c3c",
            "--test_file": "db8f4a5951968681dadc4c6ddaf53e8ba31a1436574072c3fa6273a5d333b35a",
        },
        text_columns=("sentence",),
        label_columns=("label",),
        figures={"accuracy": (0.8115, 0.0026), "f1": (0.8115, 0.0027)},
        wall_seconds_max=141.6,
        **OWN_DATA_3_SEEDS,
    ),
    SeedReference(
        data="SST sentiment scores (`sst5-scores/`: train, validation, test CSV; regression)",
        flags="--dataset own/sst5-scores --label_column score",
        files={
            "--dataset/test.csv": "af5380caab6c91a2302cf7f43f2d22a38541ab42ff7f55752835f9b3f6231f47",
            "--dataset/train.csv": "d2c17856cdc15cef1cd3bb3b2883d48a44f681c2127dfb13fffa9afa52e0abef",
            "--dataset/validation.csv": "92625464faec2d88c2d9f70dc20e5453218b79151a33d0cebcb9bc2643543f96",
        },
        text_columns=("text",),
        label_columns=("score",),
        figures={"pearson": (0.6449, 0.0050), "mse": (0.0644, 0.0011)},
        wall_seconds_max=107.7,
        **OWN_DATA_3_SEEDS,
    ),
    SeedReference(
        data="AG News (`agnews/`: headerless train.csv, test.csv, classes.txt)",
        flags="--dataset own/agnews --column_names label,title,description --text_column title,description",
        files={
            "--dataset/classes.txt": "612dbfa932f07a6ed837295a7d5746ce7412e7bb4bc32ba919fdb3cda3a1b9b5",
            "--dataset/test.csv": "6d0130a185a74d766e906938a38b9d169249b093a3bf10b4d7d1b9f94078fb44",
            "--dataset/train.csv": "a4c7315737b554cee58ebe9ded0d69cd538d1571942b4ef11353a179113bba12",
        },
        text_columns=("title", "description"),
        label_columns=("label",),
        figures={"accuracy": (0.8871, 0.0031), "f1": (0.8875, 0.0029)},
        wall_seconds_max=120.2,
        **OWN_DATA_3_SEEDS,
    ),
    SeedReference(
        data="GoEmotions, Ekman grouping (`goemotions/`: headerless TSV; multi-label)",
        flags="--dataset own/goemotions --column_names text,labels,id --label_column labels",
        files={
            "--dataset/dev.tsv": "011e6579adc4d9bb2ffd908879b99e1594e7647b262cbb2e1c5c9c1c4d7d8bcc",
            "--dataset/labels.txt": "1e65ebfe574225a67215f022bcedd299e36ce1ed387880a6feb76cf530183b92",
            "--dataset/test.tsv": "f9f9b91827fe134259469368b93abddc2a52e2e2a87beab661023b06cf490baa",
            "--dataset/train.tsv": "257da461a87f2df33d3bbd7e67cbbbdd4df1b94b39f3d963408b847e5fb8c952",
        },
        text_columns=("text",),
        label_columns=("labels",),
        figures={"f1_micro": (0.6241, 0.0013), "f1": (0.4208, 0.0155)},
        wall_seconds_max=192.4,
        **OWN_DATA_3_SEEDS,
    ),
    SeedReference(
        data="SMS spam (`sms-spam/spam.csv`, validation and test carved)",
        flags="--dataset own/sms-spam/spam.csv --text_column message --label_column class",
        files={"--dataset": "eb8da2a976ad651590ad77ae796e48fd1a0a752183b5d7e74986fee92caf0ff7"},
        text_columns=("message",),
        label_columns=("class",),
        figures={"accuracy": (0.9827, 0.0027), "f1": (0.9626, 0.0060)},
        wall_seconds_max=137.8,
        **OWN_DATA_3_SEEDS,
    ),
)


def data_files(data_args) -> dict[str, str]:
    """`{key: path}` of the local files the data flags name: `--dataset` (a file) or `--dataset/<name>` (each file of a
    folder, hidden ones aside), `--train_file`, `--validation_file`, `--test_file`. A Hub id names no file."""
    files = {}
    if data_args.dataset:
        path = os.path.expanduser(data_args.dataset)
        if os.path.isfile(path):
            files["--dataset"] = path
        elif os.path.isdir(path):
            for root, folders, names in os.walk(path):
                folders[:] = [name for name in folders if not name.startswith(".")]
                for name in names:
                    if not name.startswith("."):
                        full = os.path.join(root, name)
                        files["--dataset/" + os.path.relpath(full, path).replace(os.sep, "/")] = full
    for flag in ("train_file", "validation_file", "test_file"):
        if getattr(data_args, flag, None):
            files[f"--{flag}"] = os.path.expanduser(getattr(data_args, flag))
    return files


def seed_reference_for(preset: str | None, data_args, schema) -> dict | None:
    """The mean ± sd that `preset` measured on the very data this run read (the same files by content, the same text
    and label columns), as plain data for the card; None when none was measured (most data)."""
    candidates = [
        reference
        for reference in SEED_REFERENCES
        if reference.preset == preset
        and reference.text_columns == tuple(schema.text_columns)
        and reference.label_columns == tuple(schema.label_columns)
    ]
    if not candidates:
        return None
    files = data_files(data_args)  # files are hashed only where the names match a reference's
    for reference in candidates:
        if set(files) == set(reference.files) and all(file_sha256(files[k]) == v for k, v in reference.files.items()):
            return dataclasses.asdict(reference)
    return None


def reference_note(reference: dict, metric_names: dict[str, str]) -> str:
    """What a card says of a `seed_reference_for` answer, apart from its own run's figures (`metric_names`: how the
    card names each metric)."""
    seeds = reference["seeds"]
    figures = ", ".join(
        f"{metric_names.get(metric, metric)} {mean:.4f} ± {std:.4f}"
        for metric, (mean, std) in reference["figures"].items()
    )
    return (
        f"\nFor comparison (not this run): preset `{reference['preset']}` as shipped, with its default flags on the "
        f"whole of this same data ({reference['data']}), measured test {figures} as the mean ± sample standard "
        f"deviation of {len(seeds)} runs (seeds {', '.join(map(str, seeds))}; each run at most "
        f"{reference['wall_seconds_max']:.0f} s on {reference['device']}; `{reference['result']}` in the hf_bilstm "
        f"repository, commit {reference['commit']}); this run is one seed.\n"
    )
