"""How far the evaluation's numbers can be trusted: bootstrap intervals and the fixed holdout.

Methods, in the order the evaluation applies them:

- **Holdout** (``holdout``): an application's side (train or holdout) is a salted hash of
  its raw input columns, so adding data never moves a row and exact twins share a side.
- **Cells** (``cells``): the holdout's rows with equal label, scores, decisions and groups
  are merged into one cell with a count. Resampling cells with probabilities proportional
  to their counts is the same as resampling rows; above ``MAX_CELLS`` distinct cells the
  scores are rounded to 3 decimals, then 2 if still needed (``ROUNDINGS``; decisions are
  taken before rounding), which the method string then says.
- **Bootstrap** (``bootstrap``): the percentile bootstrap, stratified by label: each
  resample draws as many approved and as many denied applications as the holdout has, with
  replacement, from its own class; group membership falls as it falls, so group sizes vary
  between resamples. One seeded draw of counts per resample is shared by every statistic,
  so the intervals are joint (a resample's ROC AUC and race gap come from the same rows).
  The interval is the (1 - confidence) / 2 and (1 + confidence) / 2 quantiles of the
  resampled statistic; resamples where a statistic is undefined (a group without approved
  applications for its TPR) are left out of that statistic's quantiles. Gaps (best minus
  worst group) are biased upwards in small groups, so their intervals sit somewhat high.
- **Statistics** (``statistics``): ROC AUC (Mann-Whitney, ties count half), PR AUC
  (average precision, as scikit-learn computes it), brier, log loss (probabilities clipped
  to machine epsilon, as scikit-learn does), accuracy, balanced accuracy, F1, TPR and FPR
  at the threshold; per protected group its size, observed and model approval rates, TPR,
  FPR; per attribute the gaps (max - min over groups) and each group's adverse impact ratio
  (its approval rate over the reference group's: the declared one, else the most approved),
  with the four-fifths convention (a ratio below 0.8 is flagged).
- **Paired comparison** (``bootstrap.paired``): two models scored on the same rows are
  resampled together; each statistic's difference (candidate - production) gets its
  percentile interval and a minimum detectable difference, (z(1 - alpha/2) + z(power)) x
  the standard deviation of the resampled difference: the smallest true difference the
  holdout would show as significant with that power (80% by default). A difference is
  ``better`` or ``worse`` only when its whole interval lies on one side of zero
  (``Difference.judged``; ``statistics.direction`` says which way is better for each
  statistic), else ``no detectable difference``.
"""
