"""MNIST: finding, downloading, verifying and parsing its files lives in ``serving.mnist`` (the
inference layer at the bottom: ``serving/`` never imports ``cnn/``); this name stays for the
training side and its tests."""

from serving.mnist import (  # noqa: F401
    FILES,
    IMAGE_MAGIC,
    LABEL_MAGIC,
    MAX_ITEMS,
    MIRRORS,
    MNIST_MEAN,
    MNIST_STD,
    SPLITS,
    MnistError,
    MnistSplit,
    cache_dir,
    download_file,
    find_mnist_dir,
    load_mnist,
    parse_idx,
    split_files,
    verified_cache_file,
    verify_file,
)
