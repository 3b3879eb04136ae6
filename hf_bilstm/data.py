"""The data of a run: `load_raw_dataset` (Hub id, folder or files) and the names a user of the data needs.

The data's way: `load_raw_dataset` (here) → `prepare_splits` (hf_bilstm.splits: columns, labels, validation carved
from train, sample caps) → `train_tokenizer_on` (hf_bilstm.encoding: train split only) → `encode_splits` (batched,
cached `Dataset.map`) → `PaddingCollator` (dynamic padding per batch). Those names are importable from here too,
the one place scripts and users import the data steps from.
"""

import os

from datasets import Dataset, DatasetDict, load_dataset, load_from_disk
from datasets.exceptions import DatasetGenerationError, DatasetNotFoundError

from .encoding import (  # noqa: F401  (the data steps, importable from hf_bilstm.data)
    SOFT_LABELS,
    PaddingCollator,
    encode,
    encode_splits,
    iter_texts,
    train_tokenizer_on,
)
from .errors import UsageError
from .splits import LOCAL_IMDB_HINT, Splits, prepare_eval_split, prepare_splits  # noqa: F401  (as above)


def check_dataset_name(name: str) -> str:
    """Refuses an empty `--dataset` or a local path that does not exist; returns the path with `~` expanded."""
    if not name:
        raise UsageError(f"--dataset is empty; give a Hub id (stanfordnlp/imdb) or a folder ({LOCAL_IMDB_HINT}).")
    expanded = os.path.expanduser(name)
    if name.startswith((".", "/", "~")) and not os.path.exists(expanded):
        raise UsageError(
            f"--dataset {name!r}: no such folder. Give an existing folder (for example {LOCAL_IMDB_HINT}) "
            "or a Hub dataset id such as stanfordnlp/imdb."
        )
    if os.path.isfile(expanded):  # one data file: the train split (hf_bilstm.data_files)
        from .data_files import builder_for

        builder_for(expanded)
        return expanded
    if name.count("/") > 1 and not os.path.exists(expanded):  # neither a Hub id (USER/NAME) nor a folder
        raise UsageError(
            f"--dataset {name!r}: no such folder (nor a Hub id of the form USER/NAME). Check the spelling of the path."
        )
    return expanded


def _not_local(name: str) -> str:
    """What a dataset error says first when `name` is not a local path: it may be a mistyped folder."""
    return "" if os.path.exists(os.path.expanduser(name)) else "no such folder here, and "


def load_raw_dataset(
    name: str | None,
    config_name: str | None = None,
    cache_dir: str | None = None,
    files: dict[str, str] | None = None,
    column_names: list[str] | None = None,
) -> DatasetDict:
    """
    The data of a run as a DatasetDict: `name` is a Hub id, a local folder (the Hub's layout, a folder of csv/tsv/
    json/txt files named by split, or a folder-per-class corpus) or one data file (the train split); `files`
    (`{split: path}`, from --train_file/--validation_file/--test_file) add or replace splits. `column_names`
    names the columns of headerless csv/tsv files. Errors say what to do (hf_bilstm.data_files).
    """
    from .data_files import class_folders, data_files_of_folder, load_files

    files = {split: path for split, path in (files or {}).items() if path}
    loaded = DatasetDict()
    if name:
        expanded = check_dataset_name(name)
        if os.path.isfile(expanded):
            if "train" in files:
                raise UsageError(
                    f"--dataset {name!r} is a file and --train_file {files['train']!r} too; give the training "
                    "data once."
                )
            loaded = load_files({"train": [expanded]}, column_names, cache_dir)
        elif _saved_to_disk(expanded):
            loaded = _load_dataset(name, expanded, config_name, cache_dir)
        elif os.path.isdir(expanded) and (found := class_folders(expanded)) is not None:
            loaded = found
        elif os.path.isdir(expanded) and (found := data_files_of_folder(expanded)) is not None:
            loaded = load_files(found, column_names, cache_dir)
        else:
            loaded = _load_dataset(name, expanded, config_name, cache_dir)
    if files:
        loaded.update(load_files({split: [path] for split, path in files.items()}, column_names, cache_dir))
    return loaded


def _saved_to_disk(expanded: str) -> bool:
    """A folder written by `save_to_disk` (which `load_dataset` refuses to read)."""
    return os.path.isdir(expanded) and any(
        os.path.exists(os.path.join(expanded, marker)) for marker in ("dataset_dict.json", "state.json")
    )


def _load_dataset(name: str, expanded: str, config_name: str | None, cache_dir: str | None) -> DatasetDict:
    """`datasets.load_dataset` on a Hub id or a local folder in the Hub's layout, with errors that say what to do."""
    saved = _saved_to_disk(expanded)
    try:
        if saved:  # written by save_to_disk, which load_dataset refuses to read
            loaded = load_from_disk(expanded)
        else:
            loaded = load_dataset(expanded if os.path.exists(expanded) else name, config_name, cache_dir=cache_dir)
    except ConnectionError as error:
        raise UsageError(
            f"--dataset {name!r}: {_not_local(name)}could not reach the Hugging Face Hub ({error}). Check the "
            "spelling of a folder name. When offline, point --dataset at "
            f"a local copy instead, e.g. --dataset {LOCAL_IMDB_HINT} (a folder in the Hub's layout, or one saved "
            "with DatasetDict.save_to_disk)."
        ) from error
    except (DatasetNotFoundError, FileNotFoundError) as error:
        raise UsageError(
            f"--dataset {name!r}: {_not_local(name)}not found ({error}). Check the Hub id (e.g. stanfordnlp/imdb) "
            f"or the spelling of the folder, or give a local folder such as {LOCAL_IMDB_HINT}."
        ) from error
    except ValueError as error:  # e.g. a config name that does not exist
        raise UsageError(f"--dataset {name!r}: {error}") from error
    except DatasetGenerationError as error:  # a data file that cannot be parsed, e.g. a CSV that is not UTF-8
        raise UsageError(
            f"--dataset {name!r}: cannot read its data files ({error.__cause__ or error}). Fix or convert the file "
            "(text files must be UTF-8, e.g. iconv -f latin1 -t utf-8) and run again."
        ) from error
    if isinstance(loaded, Dataset):
        loaded = DatasetDict({"train": loaded})
    return loaded
