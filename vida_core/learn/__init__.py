"""The learning half of the pipeline: generators, filter and action classifier.

    config.py      every knob with its default (params.yaml sections override them)
    data.py        streaming HDF5 batches joined by clip_id, train statistics, the clip table
    models.py      the LSTMs: sequence regressor (generators) and sequence classifier
    training.py    one seeded, early-stopped training loop with dvclive logging
    generators.py  SVDMap and CAFMap: train on clips with audio, generate for every clip
    filtering.py   SVDMap's semantic filter (tagger top-k vs the class's dictionary labels)
    classify.py    the classifier under each condition, mean and spread over seeds
    synthetic.py   small artifacts in the pipeline's schemas, for tests and benchmarks
"""
