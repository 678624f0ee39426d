"""A fitted HistGradientBoostingClassifier's trees as flat NumPy arrays: predict and TreeSHAP.

scikit-learn walks each row through each tree in compiled code, but every call pays for
input validation, feature-name checks and a thread pool (~1.2 ms for one row against well
under a microsecond of arithmetic). Here a row reaches a leaf when it follows every step of
the leaf's root-to-leaf path: all splits of all trees are decided in one comparison, and
the leaves reached found in a few more array operations, whatever the number of trees.

The per-feature contributions are exact path-dependent TreeSHAP (Lundberg et al., "Consistent
individualized feature attribution for tree ensembles", 2018; what ``shap.TreeExplainer``
computes for these trees without background data, and tests/service/test_compiled.py checks
against it): for each leaf, the Shapley values of the product game over the distinct
features on its path. They depend only on which of those features the row "follows", so
they are tabulated per leaf when compiling. Summed over a tree's leaves, a row's values in
that tree depend only on which way it goes at each of the tree's splits (NaN included, as
the split sends it): for trees of at most ``MAX_TREE_SPLITS`` splits (a depth-3 tree has at
most 7) they are tabulated per tree for every combination of directions, and a row's
contributions are one look-up per tree and feature, summed per feature. Larger trees use
the per-leaf tables, and paths longer than ``MAX_TABLE_DEPTH`` compute the games per row.
"""

from __future__ import annotations

from dataclasses import dataclass
from math import factorial

import numpy as np
from scipy.special import expit

MAX_TABLE_DEPTH = 8  # paths up to this long get their Shapley values tabulated when compiling
MAX_TREE_SPLITS = 8  # trees up to this size get one table over their splits' directions: a byte


class CompileError(ValueError):
    """The estimator has a part the array form does not implement: the message says which."""


@dataclass(frozen=True)
class LeafPaths:
    """Every leaf's root-to-leaf path, padded to ``depth`` steps (arrays: leaves x depth).

    The players of a leaf's game are the distinct features on its path: ``member[l, g, s]``
    says step s belongs to player g (the first step on that feature). A path shorter than
    ``depth`` and a repeated feature leave null players (always on, cover 1), which change
    no other player's Shapley value.
    """

    node: np.ndarray  # the split (index into the Forest's split arrays) of each step
    left: np.ndarray  # the path goes left at that split
    padding: np.ndarray  # steps past the end of a shorter path
    member: np.ndarray  # leaves x players x steps
    cover: np.ndarray  # per player: share of training rows that followed its steps
    feature: np.ndarray  # per player: its feature, -1 for a null player
    value: np.ndarray  # the leaf's value (leaves,)
    # Shapley values x leaf value by which steps the row follows: leaves x 2^depth x players
    table: np.ndarray | None

    @property
    def leaf_index(self) -> np.ndarray:
        return np.arange(len(self.value))[None, :]

    def steps_taken(self, goes_left: np.ndarray) -> np.ndarray:
        """Whether each row follows each step of each path (rows x leaves x depth)."""
        return (goes_left[:, self.node] == self.left) | self.padding

    def players_on(self, taken: np.ndarray) -> np.ndarray:
        """A player is on when the row follows all its steps (rows x leaves x players)."""
        return np.all(taken[:, :, None, :] | ~self.member, axis=3)


@dataclass(frozen=True)
class Forest:
    """Binary classifier trees: raw score = baseline + one leaf value per tree."""

    baseline: float
    split_feature: np.ndarray  # every split node of every tree
    split_threshold: np.ndarray
    split_missing_left: np.ndarray
    n_features: int
    paths: LeafPaths
    scatter: Scatter
    tables: TreeTables | None = None  # None when a tree has more than MAX_TREE_SPLITS splits

    def goes_left(self, X: np.ndarray) -> np.ndarray:
        """Each row's direction at every split (rows x splits); NaN goes where training sent it."""
        x = X[:, self.split_feature]
        return np.where(np.isnan(x), self.split_missing_left, x <= self.split_threshold)

    def raw(self, X: np.ndarray) -> np.ndarray:
        """The raw score (log-odds of approval) of each row of X (rows x features)."""
        if self.tables is not None:
            return self.baseline + self.tables.leaf_values(X, self.paths.value)
        reached = self.paths.steps_taken(self.goes_left(X)).all(axis=2)
        return self.baseline + np.where(reached, self.paths.value, 0.0).sum(axis=1)

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        return expit(self.raw(X))

    def expected_value(self) -> float:
        """The raw score averaged over the training rows (TreeSHAP's base value)."""
        return self.baseline + float(np.sum(self.paths.value * self.paths.cover.prod(axis=1)))

    def into(self, column_of: np.ndarray, n_columns: int) -> Into:
        """How to sum per-feature contributions into ``column_of[feature]`` (e.g. one-hot
        inputs into their raw field): for the leaf paths and for the tree tables."""
        leaves = scatter_into(self.paths.feature, column_of, n_columns)
        if self.tables is None:
            return Into(leaves, None)
        return Into(leaves, scatter_into(self.tables.feature, column_of, n_columns))

    def contributions(self, X: np.ndarray, into: Into | None = None) -> np.ndarray:
        """TreeSHAP value of each feature for each row (rows x features), in raw-score units;
        ``into`` sums them into other columns instead (``Forest.into``). Each row's values
        add up to ``raw(X) - expected_value()``.
        """
        into = into or self.own
        if self.tables is not None:
            return self.tables.look_up(X, into.trees)
        return self.leaf_contributions(X, into.leaves)

    @property
    def own(self) -> Into:
        return self.into(np.arange(self.n_features), self.n_features)

    def leaf_contributions(self, X: np.ndarray, scatter: Scatter | None = None) -> np.ndarray:
        """``contributions`` from the per-leaf tables (or games), whatever the trees' size."""
        paths = self.paths
        scatter = scatter or self.scatter
        taken = paths.steps_taken(self.goes_left(X))
        if paths.table is None:
            on = paths.players_on(taken).astype(np.float64)
            phi = _shapley_of_product_game(on, paths.cover) * paths.value[:, None]
            return scatter(phi.reshape(len(X), -1))
        bits = taken.view(np.uint8)
        code = bits[:, :, 0].copy()
        for step in range(1, taken.shape[2]):
            code |= bits[:, :, step] << np.uint8(step)
        # one look-up straight into the scatter's order: table[leaf, code, player]
        leaf, player = np.divmod(scatter.order, paths.node.shape[1])
        patterns, players = paths.table.shape[1:]
        start = (leaf * patterns) * players + player
        flat = paths.table.reshape(-1)[start + code[:, leaf].astype(np.intp) * players]
        return scatter.sum_sorted(flat)


@dataclass(frozen=True)
class TreeTables:
    """Per tree, its TreeSHAP values (times leaf values, summed over its leaves) for every
    combination of directions at its splits: one entry per (tree, feature it splits on).

    Each tree's splits sit in a block of eight (padded with splits every row goes left
    at), so a row's directions in a tree are one byte: bit k says it goes left at the
    tree's k-th split. Entry e's value for byte b is ``values[base[e] + b]``.
    """

    split_column: np.ndarray  # trees x 8, flat: the feature, in X's copy for missing values
    split_threshold: np.ndarray
    tree_of: np.ndarray  # per entry: its tree
    base: np.ndarray  # per entry: its table's start in ``values``, less the padding bits
    feature: np.ndarray  # per entry: its feature
    values: np.ndarray  # every entry's table (one value per pattern of its tree's splits)
    leaf_of: np.ndarray  # per tree and pattern, flat: the leaf reached
    tree_base: np.ndarray  # per tree: its patterns' start in ``leaf_of``, less the padding bits
    lone_leaves: np.ndarray  # the leaves of trees without a split (every row reaches them)

    def patterns(self, X: np.ndarray) -> np.ndarray:
        """Each row's directions in each tree, as the byte above (rows x trees).

        Missing values become -inf for the splits that send them left and +inf for the
        others (``split_column`` reads the one or the other copy of X), so a direction is
        one comparison; no threshold is infinite and no request value either.
        """
        missing = np.isnan(X)
        both = np.concatenate([np.where(missing, np.inf, X), np.where(missing, -np.inf, X)], axis=1)
        left = both[:, self.split_column] <= self.split_threshold
        return _pack_bytes(left.view(np.uint8).reshape(len(X), -1, 8))

    def leaf_values(self, X: np.ndarray, value: np.ndarray) -> np.ndarray:
        """The sum of the values (one per leaf) of the leaves each row reaches."""
        reached = self.leaf_of.take(self.tree_base + self.patterns(X))
        return value.take(reached).sum(axis=1) + value[self.lone_leaves].sum()

    def look_up(self, X: np.ndarray, scatter: Scatter) -> np.ndarray:
        """Each row's contributions (rows x scatter's columns) from its directions."""
        pattern = self.patterns(X)
        entries = scatter.order
        index = self.base[entries] + pattern[:, self.tree_of[entries]]
        return scatter.sum_sorted(self.values.take(index))


def _pack_bytes(flags: np.ndarray) -> np.ndarray:
    """Eight 0/1 bytes (the last axis) as one number, byte k as bit k. Read as a
    little-endian word, byte k is bit 8k; one multiplication moves it to bit 56 + k, and no
    two partial products meet, so the top byte is the packed flags."""
    words = np.ascontiguousarray(flags).view("<u8")[..., 0]
    return ((words * _PACK) >> np.uint64(56)).astype(np.intp)


_PACK = np.uint64(sum(1 << (56 - 7 * k) for k in range(8)))


@dataclass(frozen=True)
class Into:
    """Where per-feature contributions are summed: by leaf path, and by tree table."""

    leaves: Scatter
    trees: Scatter | None


@dataclass(frozen=True)
class Scatter:
    """Sums each row's (leaf, player) values into the players' features."""

    order: np.ndarray  # the real players' positions, grouped by feature
    starts: np.ndarray  # where each feature's group starts in ``order``
    features: np.ndarray  # the feature of each group
    n_features: int

    def __call__(self, values: np.ndarray) -> np.ndarray:
        return self.sum_sorted(values[:, self.order])

    def sum_sorted(self, values: np.ndarray) -> np.ndarray:
        """Sum values already in ``order`` (rows x len(order)) into their features."""
        out = np.zeros((len(values), self.n_features))
        if len(self.order):
            out[:, self.features] = np.add.reduceat(values, self.starts, axis=1)
        return out


def _shapley_of_product_game(one: np.ndarray, zero: np.ndarray) -> np.ndarray:
    """Shapley values of v(S) = prod_{j in S} one_j * prod_{j not in S} zero_j, per player.

    phi_i = (one_i - zero_i) * sum_k k! (m-k-1)! / m! * e_k, where e_k sums the products
    over the subsets of size k of the other players: the coefficients of
    prod_{j != i} (zero_j + one_j t).
    """
    m = one.shape[-1]
    weights = np.array([factorial(k) * factorial(m - k - 1) / factorial(m) for k in range(m)])
    zero = np.broadcast_to(zero, one.shape)
    phi = np.empty(one.shape)
    for i in range(m):
        poly = np.zeros((*one.shape[:-1], m))
        poly[..., 0] = 1.0
        for j in range(m):
            if j != i:
                shifted = np.concatenate([np.zeros_like(poly[..., :1]), poly[..., :-1]], axis=-1)
                poly = poly * zero[..., j, None] + shifted * one[..., j, None]
        phi[..., i] = (one[..., i] - zero[..., i]) * (poly @ weights)
    return phi


def compile_hist_gradient_boosting(model) -> Forest:
    """The trees of a fitted binary HistGradientBoostingClassifier as a Forest."""
    if getattr(model, "n_trees_per_iteration_", None) != 1 or len(model.classes_) != 2:
        raise CompileError(f"{type(model).__name__}: only binary classifiers compile")
    trees = [predictors[0].nodes for predictors in model._predictors]
    if any(tree["is_categorical"].any() for tree in trees):
        raise CompileError("HistGradientBoostingClassifier with native categorical splits")
    offsets = np.cumsum([0] + [len(t) for t in trees])
    nodes = np.concatenate(trees)
    leaf = nodes["is_leaf"].astype(bool)
    shift = np.repeat(offsets[:-1], [len(t) for t in trees])
    left = nodes["left"].astype(np.int64) + shift
    right = nodes["right"].astype(np.int64) + shift
    splits = np.flatnonzero(~leaf)
    paths = _leaf_paths(nodes, offsets[:-1], left, right, leaf, splits)
    split_tree = np.repeat(np.arange(len(trees)), [len(t) for t in trees])[splits]
    n_features = int(model.n_features_in_)
    split = (
        nodes["feature_idx"][splits].astype(np.int64),
        nodes["num_threshold"][splits].astype(np.float64),
        nodes["missing_go_to_left"][splits].astype(bool),
        n_features,
    )
    return Forest(
        baseline=float(np.ravel(model._baseline_prediction)[0]),
        split_feature=split[0],
        split_threshold=split[1],
        split_missing_left=split[2],
        n_features=n_features,
        paths=paths,
        scatter=_scatter(paths.feature, n_features),
        tables=_tree_tables(split, paths, split_tree),
    )


def _scatter(feature: np.ndarray, n_features: int) -> Scatter:
    return scatter_into(feature, np.arange(n_features), n_features)


def scatter_into(feature: np.ndarray, column_of: np.ndarray, n_columns: int) -> Scatter:
    """A Scatter summing each (leaf, player) value into ``column_of[its feature]``."""
    flat = np.where(feature.ravel() >= 0, column_of[feature.ravel()], -1)
    real = np.flatnonzero(flat >= 0)
    order = real[np.argsort(flat[real], kind="stable")]
    columns, starts = np.unique(flat[order], return_index=True)
    return Scatter(order, starts, columns, n_columns)


def _root_to_leaf(roots, left, right, leaf) -> tuple[list[list[tuple[int, bool]]], list[int]]:
    """Each leaf's path as (node, went left) steps, tree by tree, depth first."""
    found: list[list[tuple[int, bool]]] = []
    leaves: list[int] = []
    stack: list[tuple[int, list[tuple[int, bool]]]] = [(int(r), []) for r in reversed(roots)]
    while stack:
        node, path = stack.pop()
        if leaf[node]:
            found.append(path)
            leaves.append(node)
            continue
        stack.append((int(right[node]), [*path, (node, False)]))
        stack.append((int(left[node]), [*path, (node, True)]))
    return found, leaves


def _leaf_paths(nodes, roots, left, right, leaf, splits) -> LeafPaths:
    count = nodes["count"].astype(np.float64)
    position = np.full(len(nodes), -1)
    position[splits] = np.arange(len(splits))
    found, leaves = _root_to_leaf(roots, left, right, leaf)
    depth = max(1, max(len(p) for p in found))
    shape = (len(found), depth)
    node, went_left = np.zeros(shape, np.int64), np.ones(shape, bool)
    padding, member = np.ones(shape, bool), np.zeros((len(found), depth, depth), bool)
    cover, feature = np.ones(shape), np.full(shape, -1)
    for i, path in enumerate(found):
        player_of: dict[int, int] = {}
        for step, (split, to_left) in enumerate(path):
            child = left[split] if to_left else right[split]
            f = int(nodes["feature_idx"][split])
            player = player_of.setdefault(f, step)
            node[i, step], went_left[i, step], padding[i, step] = position[split], to_left, False
            member[i, player, step] = True
            cover[i, player] *= count[child] / count[split]
            feature[i, player] = f
    value = nodes["value"][leaves].astype(np.float64)
    table = _table(member, padding, cover, value, depth)
    return LeafPaths(node, went_left, padding, member, cover, feature, value, table)


def _table(member, padding, cover, value, depth: int) -> np.ndarray | None:
    """Each leaf's Shapley values (times its value) for every combination of the steps of
    its path that a row can follow or not (bit s of the index: step s followed)."""
    if depth > MAX_TABLE_DEPTH:
        return None
    codes = (np.arange(1 << depth)[:, None] >> np.arange(depth)) & 1  # 2^depth x steps
    taken = codes[None, :, :].astype(bool) | padding[:, None, :]  # leaves x 2^depth x steps
    on = np.all(taken[:, :, None, :] | ~member[:, None, :, :], axis=3).astype(np.float64)
    return _shapley_of_product_game(on, cover[:, None, :]) * value[:, None, None]


def _tree_tables(forest_splits: tuple, paths: LeafPaths, split_tree: np.ndarray):
    """The per-leaf tables summed into one table per tree, over all its splits' directions;
    None when a leaf table is missing or a tree has more than MAX_TREE_SPLITS splits."""
    trees, tree_start, sizes = np.unique(split_tree, return_index=True, return_counts=True)
    if paths.table is None or len(trees) == 0 or sizes.max() > MAX_TREE_SPLITS:
        return None
    leaf_tree = np.where(paths.padding[:, 0], -1, split_tree[paths.node[:, 0]])
    tables, features, leaf_of = [], [], []
    for tree, first, size in zip(trees, tree_start, sizes, strict=True):
        table, used, reached = _tree_table(paths, np.flatnonzero(leaf_tree == tree), first, size)
        tables.append(table)
        features.append(used)
        leaf_of.append(reached)
    tree_of = np.repeat(np.arange(len(trees)), [len(f) for f in features])
    patterns = np.repeat(1 << sizes, [len(f) for f in features])
    padding_bits = 0xFF & ~((1 << sizes) - 1)  # per tree, always set: those splits send left
    slot = np.arange(MAX_TREE_SPLITS)[None, :]
    real = slot < sizes[:, None]
    split = np.where(real, tree_start[:, None] + slot, 0).ravel()
    feature, threshold, missing_left, n_features = forest_splits
    missing_left = np.where(real.ravel(), missing_left[split], True)  # padding: always left
    return TreeTables(
        split_column=feature[split] + np.where(missing_left, n_features, 0),
        split_threshold=np.where(real.ravel(), threshold[split], np.inf),
        tree_of=tree_of,
        base=(np.cumsum(patterns) - patterns - padding_bits[tree_of]).astype(np.intp),
        feature=np.concatenate(features).astype(np.int64),
        values=np.concatenate([t.T.ravel() for t in tables]),
        leaf_of=np.concatenate(leaf_of).astype(np.intp),
        tree_base=(np.cumsum(1 << sizes) - (1 << sizes) - padding_bits).astype(np.intp),
        lone_leaves=np.flatnonzero(leaf_tree == -1),
    )


def _tree_table(paths: LeafPaths, leaves: np.ndarray, first: int, size: int):
    """One tree's table (patterns x features it uses), those features, and the leaf each
    pattern reaches."""
    pattern = np.arange(1 << size)
    goes_left = ((pattern[:, None] >> np.arange(size)) & 1).astype(bool)  # patterns x splits
    padding = paths.padding[leaves]
    node = np.where(padding, 0, paths.node[leaves] - first)  # split positions in the tree
    taken = (goes_left[:, node] == paths.left[leaves]) | padding
    code = (taken << np.arange(taken.shape[2])).sum(axis=2)  # patterns x leaves
    phi = paths.table[leaves[None, :], code]  # patterns x leaves x players
    feature = paths.feature[leaves]
    used = np.unique(feature[feature >= 0])
    table = np.zeros((len(pattern), len(used)))
    for leaf, player in zip(*np.nonzero(feature >= 0), strict=True):
        table[:, np.searchsorted(used, feature[leaf, player])] += phi[:, leaf, player]
    reached = leaves[np.argmax(taken.all(axis=2), axis=1)]
    return table, used, reached
