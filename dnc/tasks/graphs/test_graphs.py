"""The test graphs: the London Underground and a family tree.

London (Graves et al. 2016, Fig. 2): the zone 1 interchange stations,
joined by an edge where a line runs between two of them with no other
interchange station of zone 1 between, in each direction, labelled by the
line and the direction (north, east, south or west: the larger of the
latitude and longitude differences). It is read from a directory of three
CSV files (not shipped: a flag names it):

- `stations.csv`: id,latitude,longitude,name,display_name,zone,total_lines,
  rail;
- `connections.csv`: station1,station2,line,time (each way);
- `lines.csv`: line,name,colour,stripe.

An interchange station is one served by two lines or more (of
`connections.csv`); a line's path between two of them may pass stations of
other zones.

The family tree is our own invention, of about the paper's size: 33 people
over four generations, with edges from each person to their father,
mother, sons, daughters, husband or wife (edge labels 0-5, among the
inference task's 0-9).
"""

import csv
import math
import os

import numpy as np

from dnc.tasks.graphs import graph as graph_lib

DIRECTIONS = ('north', 'east', 'south', 'west')
FAMILY_EDGES = ('father', 'mother', 'son', 'daughter', 'husband', 'wife')
FATHER, MOTHER, SON, DAUGHTER, HUSBAND, WIFE = range(len(FAMILY_EDGES))


class DataError(ValueError):
  """A London directory whose files cannot be read as the map (one line)."""


def _read(directory: str, name: str, columns: tuple[str, ...]) -> list[dict]:
  path = os.path.join(directory, name)
  if not os.path.isfile(path):
    raise DataError(f'{path}: no such file (the London map needs {name}).')
  with open(path, newline='', encoding='utf-8') as f:
    rows = list(csv.DictReader(f))
  missing = [c for c in columns if rows and c not in rows[0]]
  if not rows or missing:
    raise DataError(
      f'{path}: expected a header and rows with the columns {columns}; '
      f'missing {missing or "all rows"}.'
    )
  return rows


def _direction(a: dict, b: dict) -> int:
  """The compass direction (an index of `DIRECTIONS`) from a to b."""
  north = float(b['latitude']) - float(a['latitude'])
  # A degree of longitude is shorter than one of latitude, by cos(latitude).
  east = (float(b['longitude']) - float(a['longitude'])) * math.cos(
    math.radians(float(a['latitude']))
  )
  if abs(north) >= abs(east):
    return 0 if north > 0 else 2
  return 1 if east > 0 else 3


def london(directory: str, zone: str = '1') -> graph_lib.Graph:
  """The London Underground's interchange stations of `zone`.

  Args:
    directory: holds stations.csv, connections.csv and lines.csv.
    zone: the `zone` column's value of the stations kept.

  Returns:
    The graph: node labels the station ids (names in `node_names`), edge
    labels 4 x line + direction (names in `edge_names`, e.g. 'Circle Line
    east'), edges sorted.

  Raises:
    DataError: a file is missing or malformed, a line id is not an
      integer below 250, a connection names an unknown line, no station
      is kept, or a station has two edges of one line and direction.
  """
  stations = {
    r['id']: r
    for r in _read(
      directory, 'stations.csv', ('id', 'latitude', 'longitude', 'name', 'zone')
    )
  }
  lines = {
    r['line']: r['name']
    for r in _read(directory, 'lines.csv', ('line', 'name'))
  }
  # An edge's label is 4 x line + direction, below 1000.
  bad = [line for line in lines if not line.isdigit() or int(line) >= 250]
  if bad:
    raise DataError(
      f'lines.csv: line ids must be integers 0-249, got {bad[0]!r}.'
    )
  connections = _read(
    directory, 'connections.csv', ('station1', 'station2', 'line')
  )
  neighbours, served = {}, {}
  for row in connections:
    a, b, line = row['station1'], row['station2'], row['line']
    if line not in lines:
      raise DataError(f'connections.csv: {row} names an unknown line.')
    # A station missing from stations.csv (of no known zone) is never kept,
    # but a line may still pass through it.
    for x, y in ((a, b), (b, a)):
      neighbours.setdefault((x, line), set()).add(y)
      served.setdefault(x, set()).add(line)
  kept = sorted(
    (
      s
      for s in stations
      if stations[s]['zone'] == zone and len(served.get(s, ())) >= 2
    ),
    key=int,
  )
  if not kept:
    raise DataError(
      f'{directory}: no interchange station (two lines or more) in zone {zone}.'
    )
  index = {s: i for i, s in enumerate(kept)}
  edges, names = set(), {}
  for s in kept:
    for line in served[s]:
      # Along the line, through stations not kept, to the next kept ones.
      seen, frontier = {s}, [s]
      while frontier:
        following = []
        for u in frontier:
          for v in neighbours[(u, line)] - seen:
            seen.add(v)
            if v in index:
              direction = _direction(stations[s], stations[v])
              label = 4 * int(line) + direction
              edges.add((index[s], label, index[v]))
              names[label] = f'{lines[line]} {DIRECTIONS[direction]}'
            else:
              following.append(v)
        frontier = following
  edges = np.asarray(sorted(edges), np.int64).reshape(-1, 3)
  pairs, counts = np.unique(edges[:, :2], axis=0, return_counts=True)
  if np.any(counts > 1):
    station, label = pairs[np.argmax(counts)]
    raise DataError(
      f'{directory}: {stations[kept[station]]["name"]} has two edges of '
      f'{names[int(label)]}; a traversal needs one per line and direction.'
    )
  return graph_lib.Graph(
    np.asarray([int(s) for s in kept], np.int64),
    edges,
    tuple(stations[s]['name'] for s in kept),
    names,
  )


# The family: (husband, wife, their children as (name, 'm' or 'f')); a
# husband or wife not born into the tree is listed only here.
_FAMILIES = (
  ('Arthur', 'Beatrice', (('Edward', 'm'), ('Florence', 'f'), ('George', 'm'))),
  ('Cedric', 'Dorothy', (('Harriet', 'f'), ('Ivan', 'm'))),
  ('Edward', 'Harriet', (('Martin', 'm'), ('Nora', 'f'), ('Oscar', 'm'))),
  ('Jack', 'Florence', (('Penny', 'f'), ('Quentin', 'm'))),
  ('George', 'Kate', (('Rose', 'f'),)),
  ('Ivan', 'Lily', (('Simon', 'm'), ('Tessa', 'f'))),
  ('Martin', 'Ursula', (('Zoe', 'f'), ('Adam', 'm'))),
  ('Victor', 'Nora', (('Bella', 'f'),)),
  ('Walter', 'Penny', (('Carl', 'm'), ('Daisy', 'f'))),
  ('Quentin', 'Xenia', (('Eli', 'm'),)),
  ('Simon', 'Yvonne', (('Freya', 'f'), ('Gus', 'm'))),
)


def family_tree() -> graph_lib.Graph:
  """The invented family tree: 33 people, four generations.

  Returns:
    The graph: node labels 0..32 (names in `node_names`), edge labels
    `FATHER`..`WIFE` (names in `edge_names`): an edge (a, MOTHER, b) says
    that b is a's mother.
  """
  people = []
  for husband, wife, children in _FAMILIES:
    for name in (husband, wife, *(c for c, _ in children)):
      if name not in people:
        people.append(name)
  index = {name: i for i, name in enumerate(people)}
  edges = []
  for husband, wife, children in _FAMILIES:
    h, w = index[husband], index[wife]
    edges += [(h, WIFE, w), (w, HUSBAND, h)]
    for name, sex in children:
      c = index[name]
      edges += [(c, FATHER, h), (c, MOTHER, w)]
      child = SON if sex == 'm' else DAUGHTER
      edges += [(h, child, c), (w, child, c)]
  return graph_lib.Graph(
    np.arange(len(people), dtype=np.int64),
    np.asarray(sorted(edges), np.int64),
    tuple(people),
    dict(enumerate(FAMILY_EDGES)),
  )
