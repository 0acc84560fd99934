// Pixel-timed raster scanning (paper section 2.3, eq. for t_rc, extended with frames and
// bidirectional scanning). All times in seconds relative to t0 = time of pixel (0, 0) of frame 0.
//
//   t(f, r, c) = f * T_frame + r * T_line + k(r, c) * dwell
//   T_line  = cols * dwell + line_retrace          (= C/v + tau of the paper)
//   T_frame = rows * T_line + frame_retrace
//   k(r, c) = c, or cols - 1 - c on odd rows when scanning bidirectionally.
#pragma once
#include "bbbcore/hd.h"

namespace bbb {

struct ScanTiming {
  int frames, rows, cols;
  double dwell_s, line_retrace_s, frame_retrace_s;
  int bidirectional;

  BBB_HD double line_period_s() const { return cols * dwell_s + line_retrace_s; }
  BBB_HD double frame_period_s() const { return rows * line_period_s() + frame_retrace_s; }
  BBB_HD bool reversed(int r) const { return bidirectional && (r & 1); }
  // scan-order index of column c in row r
  BBB_HD int scan_index(int r, int c) const { return reversed(r) ? cols - 1 - c : c; }
  BBB_HD double line_start_s(int f, int r) const {
    return f * frame_period_s() + r * line_period_s();
  }
  BBB_HD double pixel_time_s(int f, int r, int c) const {
    return line_start_s(f, r) + scan_index(r, c) * dwell_s;
  }
};

}  // namespace bbb
