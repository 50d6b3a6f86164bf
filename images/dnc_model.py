"""Draw the architecture diagram of the DNC used in the README.

The figure shows one time step of the Differentiable Neural Computer as this
library builds it: the LSTM controller (``dnc/lstm``) reading the input x_t
and the previous read vectors r_{t-1}; the interface (one ``snt.Linear`` per
piece, labelled with the paper's symbols); ``MemoryAccess``
(``dnc/memory_access``) with its write head (content lookup, usage and
allocation from ``Freeness``, erase then add), the memory matrix M, the
temporal link matrix L with precedence p (``TemporalLinkage``) and the read
heads; and the output layer ``output_linear`` producing y_t. Dashed arrows
carry state to the next step.

It uses only matplotlib (Agg backend) and numpy, and writes ``dnc_model.png``
next to this script, so it runs from any directory::

  pip install matplotlib  # optional extra of the project
  python images/dnc_model.py
"""

import os

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import FancyArrowPatch
from matplotlib.patches import FancyBboxPatch
from matplotlib.patches import Rectangle
from matplotlib.path import Path
import numpy as np

OUT_PATH = os.path.join(
  os.path.dirname(os.path.abspath(__file__)), 'dnc_model.png'
)

# Canvas in data units (1 unit = 0.1 inch).
WIDTH, HEIGHT = 130.0, 78.0
DPI = 110

# A restrained palette: blue for the controller, orange for writing, green
# for reading, greys for memory state.
INK = '#222222'
MUTED = '#555555'
ARROW = '#444444'
CTRL_FC, CTRL_EC = '#dce8f5', '#3a6ea5'
WRITE_FC, WRITE_EC = '#fbe6cf', '#c07028'
READ_FC, READ_EC = '#dcefdf', '#3b8a50'
MEM_FC, MEM_EC = '#f5f5f5', '#8a8a8a'
STATE_FC, STATE_EC = '#ececec', '#666666'

FONT = 10.5
SMALL = 10
NOTE = 9


def box(ax, x0, y0, w, h, fc, ec, lw=1.3, rad=0.8, z=2):
  """Draws a rounded box with its lower-left corner at (x0, y0)."""
  patch = FancyBboxPatch(
    (x0, y0),
    w,
    h,
    boxstyle=f'round,pad=0,rounding_size={rad}',
    fc=fc,
    ec=ec,
    lw=lw,
    zorder=z,
  )
  ax.add_patch(patch)
  return patch


def text(ax, x, y, s, size=FONT, color=INK, **kwargs):
  kwargs.setdefault('ha', 'center')
  kwargs.setdefault('va', 'center')
  ax.text(x, y, s, fontsize=size, color=color, zorder=5, **kwargs)


def arrow(ax, points, color=ARROW, lw=1.4, dashed=False, head=True):
  """Draws a polyline through `points`, with an arrowhead at the end."""
  path = Path(np.asarray(points, dtype=float))
  patch = FancyArrowPatch(
    path=path,
    arrowstyle='-|>,head_length=0.5,head_width=0.22' if head else '-',
    mutation_scale=14,
    color=color,
    lw=lw,
    linestyle=(0, (5, 3)) if dashed else '-',
    joinstyle='miter',
    capstyle='butt',
    zorder=3,
  )
  ax.add_patch(patch)


def grid(ax, x0, y0, ncols, nrows, cell, shade):
  """Draws a matrix as a grid of cells; `shade` is [nrows, ncols] in [0, 1]."""
  for r in range(nrows):
    for c in range(ncols):
      level = shade[r, c]
      fc = (1 - 0.45 * level, 1 - 0.40 * level, 1 - 0.30 * level)
      ax.add_patch(
        Rectangle(
          (x0 + c * cell, y0 + (nrows - 1 - r) * cell),
          cell,
          cell,
          fc=fc,
          ec='#9a9a9a',
          lw=0.6,
          zorder=4,
        )
      )
  ax.add_patch(
    Rectangle(
      (x0, y0),
      ncols * cell,
      nrows * cell,
      fc='none',
      ec='#555555',
      lw=1.1,
      zorder=4,
    )
  )


def draw(ax):
  rng = np.random.default_rng(3)

  # Caption.
  text(
    ax,
    WIDTH / 2,
    75.6,
    'Differentiable Neural Computer (dnc.DNC): one time step; '
    'dashed arrows carry state to the next step',
    size=11.5,
    weight='bold',
  )

  # ---- Controller and its inputs. ----
  box(ax, 9.5, 34, 18, 22, CTRL_FC, CTRL_EC)
  text(ax, 18.5, 49, 'LSTM\ncontroller', size=11.5, weight='bold')
  text(ax, 18.5, 43.2, 'dnc/lstm', size=SMALL, color=MUTED, family='monospace')
  text(ax, 18.5, 38.5, r'$(h_t,\ c_t)$', size=FONT)

  box(ax, 1, 48, 5.5, 5, '#ffffff', INK, lw=1.1, rad=0.6)
  text(ax, 3.75, 50.5, r'$x_t$', size=12)
  arrow(ax, [(6.5, 50.5), (9.5, 50.5)])

  box(ax, 1, 37.5, 5.5, 5, STATE_FC, STATE_EC, lw=1.1, rad=0.6)
  text(ax, 3.75, 40, r'$r_{t-1}$', size=12)
  arrow(ax, [(6.5, 40), (9.5, 40)])

  # h_t bus to the interface pieces and to output_linear.
  bus_x = 30.5
  arrow(ax, [(27.5, 45), (bus_x, 45)], head=False)
  text(ax, 29.0, 46.6, r'$h_t$', size=12)
  ax.plot([bus_x, bus_x], [11.0, 64.5], color=ARROW, lw=1.4, zorder=3)
  ax.plot([bus_x], [45], 'o', color=ARROW, ms=4, zorder=3)

  # ---- Interface: one snt.Linear per piece. ----
  ix0, iw, ih = 33.0, 23.0, 4.4
  text(ax, ix0 + iw / 2, 71.0, 'interface', size=11.5, weight='bold')
  text(
    ax,
    ix0 + iw / 2,
    68.9,
    'one snt.Linear of $h_t$ each',
    size=SMALL,
    color=MUTED,
  )
  pieces = [
    (64.5, r'$k^w,\ \beta^w$', 'write key & strength', 'w'),
    (58.5, r'$g^a$', 'allocation gate', 'w'),
    (53.0, r'$f$', 'free gates', 'w'),
    (47.5, r'$g^w$', 'write gate', 'w'),
    (41.0, r'$e$', 'erase vector', 'w'),
    (31.0, r'$v$', 'write vector', 'w'),
    (22.5, r'$k^r,\ \beta^r$', 'read keys & strengths', 'r'),
    (16.5, r'$\pi$', 'read modes', 'r'),
  ]
  for yc, sym, desc, kind in pieces:
    fc, ec = (WRITE_FC, WRITE_EC) if kind == 'w' else (READ_FC, READ_EC)
    box(ax, ix0, yc - ih / 2, iw, ih, fc, ec, lw=1.1, rad=0.6)
    text(ax, ix0 + 0.9, yc, sym, size=11.5, ha='left')
    text(ax, ix0 + iw - 0.8, yc, desc, size=SMALL, ha='right')
    arrow(ax, [(bus_x, yc), (ix0, yc)], lw=1.1)

  # ---- Output layer. ----
  box(ax, ix0, 6.0, iw, 6.5, CTRL_FC, CTRL_EC)
  text(
    ax,
    ix0 + iw / 2,
    10.6,
    'output_linear',
    size=SMALL,
    weight='bold',
    family='monospace',
  )
  text(ax, ix0 + iw / 2, 7.9, r'$y_t = W_y\,[h_t;\ r_t] + b_y$', size=FONT)
  arrow(ax, [(bus_x, 11.0), (ix0, 11.0)], lw=1.1)
  arrow(ax, [(ix0, 7.6), (22.0, 7.6)])
  text(ax, 20.2, 7.6, r'$y_t$', size=12)

  # ---- MemoryAccess. ----
  mx0, my0, mx1, my1 = 60.0, 5.5, 129.0, 73.5
  box(ax, mx0, my0, mx1 - mx0, my1 - my0, MEM_FC, MEM_EC, lw=1.4, z=1)
  text(
    ax,
    mx0 + 1.5,
    71.2,
    'MemoryAccess',
    size=11.5,
    weight='bold',
    ha='left',
  )
  text(
    ax,
    mx0 + 17.5,
    71.2,
    'dnc/memory_access',
    size=SMALL,
    color=MUTED,
    family='monospace',
    ha='left',
  )

  # Colour key in the header row.
  key = [
    (96.0, WRITE_FC, WRITE_EC, 'write head'),
    (108.5, READ_FC, READ_EC, 'read heads'),
    (121.0, STATE_FC, STATE_EC, 'state'),
  ]
  for kx, fc, ec, label in key:
    box(ax, kx, 70.3, 1.8, 1.8, fc, ec, lw=1.0, rad=0.3)
    text(ax, kx + 2.6, 71.2, label, size=NOTE, color=MUTED, ha='left')

  ax0, aw = 62.5, 19.0  # column A
  bx0, bw = 86.0, 19.0  # column B
  cx0, cw = 109.5, 18.0  # column C

  # Write head: content lookup and allocation, mixed into write weights.
  box(ax, ax0, 61.0, aw, 7.0, WRITE_FC, WRITE_EC)
  text(ax, ax0 + aw / 2, 66.0, 'content lookup', size=FONT, weight='bold')
  text(
    ax,
    ax0 + aw / 2,
    63.0,
    r'$c^w_t = \mathcal{C}(M_{t-1}, k^w, \beta^w)$',
    size=FONT,
  )
  box(ax, ax0, 49.0, aw, 8.0, WRITE_FC, WRITE_EC)
  text(ax, ax0 + aw / 2, 54.9, 'Freeness', size=FONT, weight='bold')
  text(ax, ax0 + aw / 2, 52.5, r'usage $u_t$ $\rightarrow$ allocation $a_t$')
  text(
    ax,
    ax0 + aw / 2,
    50.3,
    r'from $u_{t-1},\ w^w_{t-1},\ w^r_{t-1}$',
    size=NOTE,
    color=MUTED,
  )

  box(ax, bx0, 45.0, bw, 23.0, WRITE_FC, WRITE_EC)
  text(ax, bx0 + bw / 2, 62.0, 'write weights', size=FONT, weight='bold')
  text(ax, bx0 + bw / 2, 58.3, r'$w^w_t = g^w\,[\,g^a a_t$', size=FONT)
  text(ax, bx0 + bw / 2, 55.4, r'$+\ (1 - g^a)\,c^w_t\,]$', size=FONT)
  text(
    ax,
    bx0 + bw / 2,
    50.8,
    'allocation or content\n(by $g^a$), gated by $g^w$',
    size=NOTE,
    color=MUTED,
  )
  arrow(ax, [(ax0 + aw, 64.5), (bx0, 64.5)])
  text(ax, (ax0 + aw + bx0) / 2, 65.8, r'$c^w_t$', size=FONT)
  arrow(ax, [(ax0 + aw, 53.0), (bx0, 53.0)])
  text(ax, (ax0 + aw + bx0) / 2, 54.3, r'$a_t$', size=FONT)

  # Interface arrows into MemoryAccess.
  ie = ix0 + iw
  arrow(ax, [(ie, 64.5), (ax0, 64.5)], color=WRITE_EC)  # k^w, beta^w
  arrow(ax, [(ie, 58.5), (bx0, 58.5)], color=WRITE_EC)  # g^a
  arrow(ax, [(ie, 53.0), (ax0, 53.0)], color=WRITE_EC)  # f
  arrow(ax, [(ie, 47.5), (bx0, 47.5)], color=WRITE_EC)  # g^w

  # Memory matrix M (N x W).
  n_loc, word = 8, 6
  cell = 1.5
  gx0, gy0 = 89.0, 30.0
  shade = rng.uniform(0.0, 0.35, size=(n_loc, word))
  shade[2] = 0.95  # the location being written
  grid(ax, gx0, gy0, word, n_loc, cell, shade)
  text(ax, gx0 + word * cell + 1.2, 39.5, r'$M_t$', size=13, ha='left')
  text(ax, gx0 + word * cell + 1.2, 36.3, 'memory', size=SMALL, ha='left')
  text(
    ax, gx0 + word * cell + 1.2, 34.0, r'$N \times W$', size=SMALL, ha='left'
  )
  gtop = gy0 + n_loc * cell
  arrow(ax, [(bx0 + bw / 2 - 2.5, 45.0), (bx0 + bw / 2 - 2.5, gtop)])
  text(ax, bx0 + bw / 2 - 1.3, 43.5, r'$w^w_t$', size=FONT, ha='left')
  arrow(ax, [(ie, 41.0), (gx0, 41.0)], color=WRITE_EC)  # e
  arrow(ax, [(ie, 31.0), (gx0, 31.0)], color=WRITE_EC)  # v
  text(ax, ax0 + aw / 2 + 1.5, 38.4, 'erase, then add:', size=SMALL)
  text(
    ax,
    ax0 + aw / 2 + 1.5,
    35.6,
    r'$M_t = M_{t-1} \circ (1 - w^w e^\top)$',
    size=SMALL,
  )
  text(ax, ax0 + aw / 2 + 1.5, 33.0, r'$+\ w^w v^\top$', size=SMALL)

  # Temporal link matrix L (N x N) and precedence p.
  box(ax, cx0, 45.0, cw, 23.0, STATE_FC, STATE_EC)
  text(ax, cx0 + cw / 2, 65.6, 'TemporalLinkage', size=FONT, weight='bold')
  text(ax, cx0 + cw / 2, 63.3, 'links, precedence', size=NOTE, color=MUTED)
  lcell = 1.3
  lx0, ly0 = cx0 + 1.6, 49.2
  link = rng.uniform(0.0, 0.25, size=(n_loc, n_loc))
  for i in range(n_loc - 1):
    link[i + 1, i] = 0.9  # a chain of writes
  np.fill_diagonal(link, 0.0)
  grid(ax, lx0, ly0, n_loc, n_loc, lcell, link)
  text(ax, lx0 + n_loc * lcell / 2, 47.2, r'$L_t$  ($N \times N$)', size=SMALL)
  px0 = lx0 + n_loc * lcell + 1.6
  prec = rng.uniform(0.0, 0.3, size=(n_loc, 1))
  prec[2] = 0.9
  grid(ax, px0, ly0, 1, n_loc, lcell, prec)
  text(ax, px0 + lcell / 2, 47.2, r'$p_t$', size=FONT)
  arrow(ax, [(bx0 + bw, 56.5), (cx0, 56.5)])
  text(ax, (bx0 + bw + cx0) / 2, 57.9, r'$w^w_t$', size=FONT)

  # Read heads.
  box(ax, cx0, 28.0, cw, 12.0, READ_FC, READ_EC)
  text(ax, cx0 + cw / 2, 37.6, 'link following', size=FONT, weight='bold')
  text(ax, cx0 + cw / 2, 34.3, r'fwd $f_t = L_t\, w^r_{t-1}$', size=FONT)
  text(ax, cx0 + cw / 2, 31.0, r'bwd $b_t = L_t^\top w^r_{t-1}$', size=FONT)
  arrow(ax, [(cx0 + cw / 2, 45.0), (cx0 + cw / 2, 40.0)])
  text(ax, cx0 + cw / 2 + 0.8, 42.5, r'$L_t$', size=FONT, ha='left')

  box(ax, ax0, 19.0, aw, 7.0, READ_FC, READ_EC)
  text(ax, ax0 + aw / 2, 24.0, 'content lookup', size=FONT, weight='bold')
  text(
    ax,
    ax0 + aw / 2,
    21.0,
    r'$c^r_t = \mathcal{C}(M_t, k^r, \beta^r)$',
    size=FONT,
  )

  box(ax, bx0, 7.0, bw, 20.0, READ_FC, READ_EC)
  text(ax, bx0 + bw / 2, 24.2, 'read weights', size=FONT, weight='bold')
  text(ax, bx0 + bw / 2, 20.9, r'$w^r_t = \pi^b b_t + \pi^f f_t$', size=FONT)
  text(ax, bx0 + bw / 2, 18.0, r'$+\ \pi^c c^r_t$', size=FONT)
  text(
    ax,
    bx0 + bw / 2,
    14.9,
    'modes: backward,\nforward, content',
    size=NOTE,
    color=MUTED,
  )
  text(ax, bx0 + bw / 2, 10.6, 'read vectors', size=FONT, weight='bold')
  text(ax, bx0 + bw / 2, 8.4, r'$r_t = M_t^\top w^r_t$', size=FONT)

  # M_t into the read content lookup and into reading.
  arrow(ax, [(gx0 + 1.5, gy0), (gx0 + 1.5, 28.3), (74.0, 28.3), (74.0, 26.0)])
  arrow(ax, [(gx0 + 6.0, gy0), (gx0 + 6.0, 27.0)])
  text(ax, gx0 + 6.8, 28.5, r'$M_t$', size=FONT, ha='left')
  arrow(ax, [(ax0 + aw, 22.5), (bx0, 22.5)])
  text(ax, (ax0 + aw + bx0) / 2, 23.8, r'$c^r_t$', size=FONT)
  arrow(ax, [(cx0 + cw / 2, 28.0), (cx0 + cw / 2, 20.0), (bx0 + bw, 20.0)])
  text(ax, cx0 + cw / 2 + 0.8, 24.0, r'$f_t,\ b_t$', size=FONT, ha='left')
  arrow(ax, [(ie, 22.5), (ax0, 22.5)], color=READ_EC)  # k^r, beta^r
  arrow(ax, [(ie, 16.5), (bx0, 16.5)], color=READ_EC)  # pi

  # r_t: to output_linear now, and (dashed) to the controller at t + 1.
  arrow(ax, [(bx0, 9.25), (ie, 9.25)])
  text(ax, 66.0, 10.5, r'$r_t$', size=12)
  lane = 2.8
  arrow(
    ax,
    [
      (bx0 + bw / 2, 7.0),
      (bx0 + bw / 2, lane),
      (3.75, lane),
      (3.75, 37.5),
    ],
    dashed=True,
  )
  text(
    ax,
    46.0,
    lane - 1.6,
    r'$r_t$ becomes $r_{t-1}$ of the next step ($t \rightarrow t+1$)',
    size=SMALL,
  )


def main():
  fig = Figure(figsize=(WIDTH / 10, HEIGHT / 10), dpi=DPI, facecolor='white')
  FigureCanvasAgg(fig)
  ax = fig.add_axes((0, 0, 1, 1))
  ax.set_xlim(0, WIDTH)
  ax.set_ylim(0, HEIGHT)
  ax.set_aspect('equal')
  ax.axis('off')
  draw(ax)
  fig.savefig(OUT_PATH, dpi=DPI, facecolor='white')
  print(f'wrote {OUT_PATH}')


if __name__ == '__main__':
  main()
