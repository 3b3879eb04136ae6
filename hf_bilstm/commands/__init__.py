"""One module per `hf-bilstm` subcommand: parse the flags, call the library, print; `hf_bilstm.cli` answers errors."""
