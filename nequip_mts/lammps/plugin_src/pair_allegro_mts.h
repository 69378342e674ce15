/* -*- c++ -*- ----------------------------------------------------------
   nequip-mts: pair style allegro/mts

   One instance evaluates one AOTInductor-compiled Allegro model
   (`nequip-compile --mode aotinductor --target pair_allegro`).  Two instances
   under `pair_style hybrid/overlay` and `run_style respa ... hybrid` give a
   multiple-time-step split E = E_fast + E_slow.  Each instance asks LAMMPS
   for a full neighbour list at its *own* model cutoff (plus skin), so the
   short-range model never walks over the ghosts that only the long-range
   model needs.
------------------------------------------------------------------------- */

#ifdef PAIR_CLASS
// clang-format off
PairStyle(allegro/mts,PairAllegroMTS);
// clang-format on
#else

#ifndef LMP_PAIR_ALLEGRO_MTS_H
#define LMP_PAIR_ALLEGRO_MTS_H

#include "pair.h"

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace torch {
namespace inductor {
  class AOTIModelPackageLoader;
}
}    // namespace torch

namespace LAMMPS_NS {

class PairAllegroMTS : public Pair {
 public:
  PairAllegroMTS(class LAMMPS *);
  ~PairAllegroMTS() override;

  void compute(int, int) override;
  void settings(int, char **) override;
  void coeff(int, char **) override;
  void init_style() override;
  double init_one(int, int) override;

  // bookkeeping visible to tests / debugging
  double model_cutoff() const { return cutoff_max; }

 protected:
  void allocate();
  void load_model(const std::string &path);
  void run_model(int nnodes, int nedges);
  void trim_list();

  std::unique_ptr<torch::inductor::AOTIModelPackageLoader> model;
  std::string model_path;
  std::vector<std::string> model_type_names;
  std::vector<std::string> input_names;     // order of model inputs
  int out_energy, out_forces, out_virial;    // positions in the output list

  double r_max;                             // model r_max
  std::vector<double> edge_cutoff;          // per model-type pair (ntm*ntm), row = center
  double cutoff_max;                        // largest cutoff actually used
  double **cutsq_type;                      // [LAMMPS itype][jtype], 1-based
  std::vector<int> type_map;                // LAMMPS type (1-based) -> model type, -1 = NULL

  bool verbose;

  // this instance's own neighbour list, trimmed from LAMMPS' list at
  // (own cutoff + skin) whenever LAMMPS rebuilds its lists
  bool use_trimmed;
  bigint trimmed_at;                  // Neighbor::ncalls when trimmed
  class NeighList *trimmed_from;
  std::vector<int> trim_offset;       // per ilist entry, into trim_neigh
  std::vector<int> trim_neigh;

  // per-call scratch, kept to avoid reallocations
  std::vector<int> node_of_atom;    // LAMMPS atom index -> model node (-1 if absent)
  std::vector<int> atom_of_node;    // model node -> LAMMPS atom index
  std::vector<int64_t> edge_src, edge_dst;
  std::vector<double> node_pos;
  std::vector<int64_t> node_type;

  // results of the last model call, float64
  std::vector<double> res_energy, res_forces;
  double res_virial[9];
};

}    // namespace LAMMPS_NS

#endif
#endif
