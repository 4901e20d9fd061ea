"""KFP components, one folder each: `components/<category>/<name>/component.py`.

Every component is a thin wrapper: typed inputs and outputs, then one call into `cnai.steps`
through `cnai.core.tracking.run_step`, which records lineage and carbon.
"""
