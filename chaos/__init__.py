"""The chaos suite (`make chaos`): hostile configs, mutated configs, kill -9 at random points of the
runner, the CLI and a worker on another host, faulty trials, and canary secrets looked for everywhere.

It prints its figures and exits non-zero on any lost trial, duplicate, leak, hang, traceback or orphan.
"""
