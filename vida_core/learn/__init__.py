"""The learning half of the pipeline: generators, filter and action classifier.

    data.py        streaming HDF5 batches joined by clip_id, train statistics, the clip table
    networks.py    the LSTMs: sequence regressor (generators) and sequence classifier
    training.py    one seeded, early-stopped training loop that returns its curves
    generators.py  SVDMap and CAFMap per seed: cross-fitted on train clips, generate for every clip
    filtering.py   SVDMap's semantic filter (tagger top-k vs the class's dictionary labels)
    conditions.py  the classifier's conditions (one classify_<name> stage each)
    classify.py    the classifier of one condition, once per seed
    results.py     the conditions against baseline: intervals, paired gains, verdicts
"""
