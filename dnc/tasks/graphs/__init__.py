"""The paper's graph tasks: traversal, shortest path and inference.

Graves et al. (2016), Methods "Graph task descriptions", "Random graph
generation", "Structured prediction" and "Curriculum learning":

- `encoding`: triples of labels as the 92 inputs and nine 10-way
  softmaxes, episodes and their batches (numpy only);
- `graph`: random graphs, walks, shortest paths and the inference task's
  fixed relations (numpy only);
- `episodes`: each task's episodes, and the shortest path's closed loop
  (the network's own actions fed back, renormalised over the current
  node's outgoing triples);
- `curriculum`: the lessons and the training batches drawn from them;
- `test_graphs`: the London Underground (from CSV files not shipped) and an
  invented family tree;
- `task`: it as a `dnc.tasks.base.Task` (`train_graphs.py`).
"""
