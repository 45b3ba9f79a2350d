"""The engine: the command line, the configuration, the one training loop and the loggers.

It knows no modality: a task (utils/tasks/) supplies the signal and its evaluation,
models/ and samplers/ the network and the choice of points.
"""
