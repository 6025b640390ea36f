"""``python -m clickfunnels_async.cli``: the same as the `clickfunnels` console script."""

from clickfunnels_async.cli import main

main()
