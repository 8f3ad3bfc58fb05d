"""The tidings benchmark suite: ``python -m bench`` (see ``bench/run.py``).

Every scenario runs tidings and its baseline in the same run, so their
ratio is meaningful even on a noisy, shared machine.
"""
