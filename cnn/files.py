"""The file helpers live in ``serving.files`` (the inference layer at the bottom: ``serving/`` never
imports ``cnn/``); this name stays for the training side and its tests."""

from serving.files import (  # noqa: F401
    OutputIsInputError,
    atomic_write,
    current_umask,
    refuse_input_as_output,
    same_file,
    sha256_of,
)
