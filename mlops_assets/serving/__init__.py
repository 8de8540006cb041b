"""The online scoring service `mlops-serve`: a stage on top of features and training.

`app` (HTTP), `state` (entities' recent events), `features` (the request's feature vector through the
offline feature functions), `models` (champion and challenger by alias, hot reload), `log` (the
prediction log in daily micro-batch files). The Dagster assets that read the log live in
`defs/serving`.
"""
