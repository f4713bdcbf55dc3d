// CALF YOLO-like spotting targets (spec calf.md section 4). One pass over the chunk's kept rows.
#include "spotting_targets.h"

namespace spotkern {

int64_t spotting_targets(const int32_t* tse, int64_t L, int64_t C, int64_t N, int64_t border, float* out) {
  const int64_t width = 2 + C;
  int64_t k = 0;
  for (int64_t t = border; t < L - border; ++t) {
    const int32_t* row = tse + t * C;
    for (int64_t c = 0; c < C; ++c) {
      if (row[c] != 0) continue;
      if (k < N) {
        float* slot = out + k * width;
        slot[0] = 1.0f;
        // t / L with the chunk length L, not L - 1 (calf.md section 4, rule 2); the quotient is
        // taken in double and rounded once to float32, as the float64 reference cast to float32.
        slot[1] = static_cast<float>(static_cast<double>(t) / static_cast<double>(L));
        slot[2 + c] = 1.0f;
      }
      ++k;  // overflow keeps the earliest N (calf.md section 4, rule 3) and counts the rest
    }
  }
  return k > N ? k - N : 0;
}

}  // namespace spotkern
