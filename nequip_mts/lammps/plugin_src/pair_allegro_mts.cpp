/* ----------------------------------------------------------------------
   nequip-mts: pair style allegro/mts

   Evaluates one AOTInductor-compiled Allegro model.  Input convention of a
   `--target pair_allegro` compile (read back from the package metadata):
     pos        (N, 3)  float64   local atoms first, then the ghosts used
     edge_index (2, E)  int64     row 0 = centre atom (always local),
                                  row 1 = neighbour (local or ghost)
     atom_types (N,)    int64     model type index
   outputs: atomic_energy (N, 1), forces (N, 3), virial (1, 3, 3).
   Energies of ghost nodes are zero because no edge is centred on them, so
   the local energy is the sum over the local nodes; ghost forces are sent
   back to their owners by LAMMPS (newton on).
------------------------------------------------------------------------- */

#include "pair_allegro_mts.h"

#include "atom.h"
#include "comm.h"
#include "error.h"
#include "force.h"
#include "memory.h"
#include "neigh_list.h"
#include "neighbor.h"
#include "platform.h"
#include "update.h"
#include "utils.h"

#include "nequip_mts_compat.h"

#include <torch/csrc/inductor/aoti_package/model_package_loader.h>
#include <torch/torch.h>

#include <algorithm>
#include <climits>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <sstream>

#if defined(__GLIBC__)
#include <malloc.h>
#endif

using namespace LAMMPS_NS;

namespace {

std::vector<std::string> split_ws(const std::string &s)
{
  std::istringstream in(s);
  std::vector<std::string> out;
  for (std::string tok; in >> tok;) out.push_back(tok);
  return out;
}

std::string join(const std::vector<std::string> &v)
{
  std::string out;
  for (size_t i = 0; i < v.size(); ++i) out += (i ? " " : "") + v[i];
  return out;
}

// Keep freed model buffers in the process instead of handing them back to the
// kernel after every call.  The fast and slow models allocate their (large)
// intermediates anew on each call; with glibc's defaults, memory released by
// one model is unmapped or trimmed and the next call page-faults it back in.
// Measured on 1152 water atoms: r-RESPA K=4 1.55 s instead of 2.06 s for 6
// outer steps, verlet with the slow model 10% faster.  Process-wide and applied
// once; skipped when the user tunes glibc through MALLOC_* variables.
bool tune_malloc()
{
#if defined(__GLIBC__)
  static bool done = false;
  if (done) return true;
  done = true;
  if (std::getenv("MALLOC_MMAP_THRESHOLD_") || std::getenv("MALLOC_TRIM_THRESHOLD_") ||
      std::getenv("MALLOC_TOP_PAD_"))
    return false;
  mallopt(M_MMAP_THRESHOLD, 32 * 1024 * 1024);
  mallopt(M_TRIM_THRESHOLD, INT_MAX);
  mallopt(M_TOP_PAD, 256 * 1024 * 1024);
  return true;
#else
  return false;
#endif
}

bool ends_with(const std::string &s, const std::string &suffix)
{
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

}    // namespace

/* ---------------------------------------------------------------------- */

PairAllegroMTS::PairAllegroMTS(LAMMPS *lmp) : Pair(lmp)
{
  single_enable = 0;
  restartinfo = 0;
  one_coeff = 1;
  manybody_flag = 1;
  // the virial comes from the model; never reconstruct it from f.r
  // (r-RESPA requires the explicit form anyway)
  no_virial_fdotr_compute = 1;
  centroidstressflag = CENTROID_NOTAVAIL;

  out_energy = out_forces = out_virial = -1;
  r_max = 0.0;
  cutoff_max = 0.0;
  cutsq_type = nullptr;
  verbose = false;
  use_trimmed = false;
  trimmed_at = -1;
  trimmed_from = nullptr;
  for (double &v : res_virial) v = 0.0;
}

/* ---------------------------------------------------------------------- */

PairAllegroMTS::~PairAllegroMTS()
{
  if (copymode) return;
  if (allocated) {
    memory->destroy(setflag);
    memory->destroy(cutsq);
    memory->destroy(cutsq_type);
  }
}

/* ---------------------------------------------------------------------- */

void PairAllegroMTS::allocate()
{
  allocated = 1;
  const int n = atom->ntypes;
  memory->create(setflag, n + 1, n + 1, "pair:setflag");
  memory->create(cutsq, n + 1, n + 1, "pair:cutsq");
  memory->create(cutsq_type, n + 1, n + 1, "pair:cutsq_type");
  for (int i = 0; i <= n; i++)
    for (int j = 0; j <= n; j++) {
      setflag[i][j] = 0;
      cutsq_type[i][j] = 0.0;
    }
}

/* ----------------------------------------------------------------------
   pair_style allegro/mts [verbose yes|no] [malloc_tuning yes|no]
------------------------------------------------------------------------- */

void PairAllegroMTS::settings(int narg, char **arg)
{
  bool malloc_tuning = true;
  int iarg = 0;
  while (iarg < narg) {
    if (strcmp(arg[iarg], "verbose") == 0 || strcmp(arg[iarg], "malloc_tuning") == 0) {
      if (iarg + 2 > narg) utils::missing_cmd_args(FLERR, std::string("pair_style allegro/mts ") + arg[iarg], error);
      const bool flag = utils::logical(FLERR, arg[iarg + 1], false, lmp) != 0;
      if (arg[iarg][0] == 'v')
        verbose = flag;
      else
        malloc_tuning = flag;
      iarg += 2;
    } else {
      error->all(FLERR,
                 "Unknown pair_style allegro/mts keyword: {} "
                 "(usage: pair_style allegro/mts [verbose yes|no] [malloc_tuning yes|no])",
                 arg[iarg]);
    }
  }
  if (malloc_tuning && tune_malloc() && verbose)
    utils::logmesg(lmp, "allegro/mts: glibc malloc set to keep freed memory (malloc_tuning yes)\n");
}

/* ---------------------------------------------------------------------- */

void PairAllegroMTS::load_model(const std::string &path)
{
  {
    std::ifstream probe(path, std::ios::binary);
    if (!probe.good())
      error->all(FLERR, "pair allegro/mts: cannot open model file '{}' (file missing or unreadable)", path);
  }
  if (!ends_with(path, ".pt2"))
    error->all(FLERR,
               "pair allegro/mts: model file '{}' is not an AOTInductor package (.nequip.pt2); "
               "compile it with `nequip-compile --mode aotinductor --target pair_allegro`",
               path);

  std::unordered_map<std::string, std::string> meta;
  try {
    // one runner, no internal thread pool: LAMMPS drives the calls
    model = std::make_unique<torch::inductor::AOTIModelPackageLoader>(path, "model", false, 1);
    meta = model->get_metadata();
  } catch (const std::exception &e) {
    model.reset();
    error->all(FLERR, "pair allegro/mts: failed to load model '{}': {}", path,
               utils::split_lines(e.what()).empty() ? std::string("unknown error")
                                                    : utils::split_lines(e.what())[0]);
  }

  auto need = [&](const char *key) -> std::string {
    auto it = meta.find(key);
    if (it == meta.end())
      error->all(FLERR, "pair allegro/mts: model '{}' has no '{}' metadata; is it a nequip model?", path, key);
    return it->second;
  };

  // ---- inputs / outputs
  input_names = split_ws(need("nequip_aoti_inputs"));
  const std::vector<std::string> expected_in = {"pos", "edge_index", "atom_types"};
  {
    std::vector<std::string> sorted_in = input_names, sorted_exp = expected_in;
    std::sort(sorted_in.begin(), sorted_in.end());
    std::sort(sorted_exp.begin(), sorted_exp.end());
    if (sorted_in != sorted_exp)
      error->all(FLERR,
                 "pair allegro/mts: model '{}' takes inputs [{}] but this pair style feeds "
                 "[pos edge_index atom_types]; recompile with `nequip-compile ... --target pair_allegro`",
                 path, join(input_names));
  }
  const std::vector<std::string> outs = split_ws(need("nequip_aoti_outputs"));
  out_energy = out_forces = out_virial = -1;
  for (int k = 0; k < (int) outs.size(); ++k) {
    if (outs[k] == "atomic_energy") out_energy = k;
    if (outs[k] == "forces") out_forces = k;
    if (outs[k] == "virial") out_virial = k;
  }
  if (out_energy < 0 || out_forces < 0 || out_virial < 0)
    error->all(FLERR,
               "pair allegro/mts: model '{}' outputs [{}], need atomic_energy, forces and virial; "
               "recompile with `--target pair_allegro`",
               path, join(outs));

  auto dev = meta.find("AOTI_DEVICE_KEY");
  if (dev != meta.end() && dev->second != "cpu")
    error->all(FLERR, "pair allegro/mts: model '{}' was compiled for device '{}'; this build runs on CPU",
               path, dev->second);

  // ---- types and cutoffs
  model_type_names = split_ws(need("type_names"));
  r_max = std::stod(need("r_max"));
  const int ntm = (int) model_type_names.size();
  edge_cutoff.assign((size_t) ntm * ntm, r_max);
  auto pec = meta.find("per_edge_type_cutoff");
  if (pec != meta.end() && !split_ws(pec->second).empty()) {
    auto vals = split_ws(pec->second);
    if ((int) vals.size() != ntm * ntm)
      error->all(FLERR, "pair allegro/mts: model '{}' per_edge_type_cutoff has {} entries, expected {}", path,
                 vals.size(), ntm * ntm);
    for (int k = 0; k < ntm * ntm; ++k) edge_cutoff[k] = std::stod(vals[k]);
  }

  auto tf32 = meta.find("allow_tf32");
  if (tf32 != meta.end() && tf32->second == "1" && comm->me == 0)
    error->warning(FLERR, "pair allegro/mts: model '{}' was compiled with TF32 allowed (ignored on CPU)", path);
}

/* ----------------------------------------------------------------------
   pair_coeff * * model.nequip.pt2 name_1 ... name_ntypes
   a name may be NULL for LAMMPS types this instance does not handle
------------------------------------------------------------------------- */

void PairAllegroMTS::coeff(int narg, char **arg)
{
  if (!allocated) allocate();
  const int ntypes = atom->ntypes;

  if (narg != 3 + ntypes)
    error->all(FLERR,
               "pair_coeff for allegro/mts needs: * * <model>.nequip.pt2 followed by one model type "
               "name (or NULL) for each of the {} LAMMPS atom types; got {} arguments",
               ntypes, narg);
  if (strcmp(arg[0], "*") != 0 || strcmp(arg[1], "*") != 0)
    error->all(FLERR, "pair_coeff for allegro/mts must start with * *");

  model_path = arg[2];
  load_model(model_path);

  const int ntm = (int) model_type_names.size();
  type_map.assign(ntypes + 1, -1);
  for (int itype = 1; itype <= ntypes; ++itype) {
    const std::string name = arg[2 + itype];
    if (name == "NULL") continue;
    auto it = std::find(model_type_names.begin(), model_type_names.end(), name);
    if (it == model_type_names.end())
      error->all(FLERR,
                 "pair allegro/mts: type name '{}' given for LAMMPS atom type {} is not one of the "
                 "model's type names [{}] (model '{}')",
                 name, itype, join(model_type_names), model_path);
    type_map[itype] = (int) (it - model_type_names.begin());
  }

  int count = 0;
  cutoff_max = 0.0;
  for (int i = 1; i <= ntypes; ++i)
    for (int j = 1; j <= ntypes; ++j) {
      setflag[i][j] = 0;
      cutsq_type[i][j] = 0.0;
      if (type_map[i] < 0 || type_map[j] < 0) continue;
      const double rc = edge_cutoff[(size_t) type_map[i] * ntm + type_map[j]];
      cutsq_type[i][j] = rc * rc;
      cutoff_max = std::max(cutoff_max, rc);
      setflag[i][j] = 1;
      ++count;
    }
  if (count == 0) error->all(FLERR, "pair allegro/mts: every LAMMPS type was mapped to NULL");

  if (comm->me == 0) {
    std::string msg = fmt::format("allegro/mts: model {} (r_max = {}, cutoff used = {}), types:", model_path, r_max,
                                  cutoff_max);
    for (int itype = 1; itype <= ntypes; ++itype)
      msg += fmt::format(" {}->{}", itype, type_map[itype] < 0 ? "NULL" : model_type_names[type_map[itype]]);
    utils::logmesg(lmp, msg + "\n");
  }
}

/* ---------------------------------------------------------------------- */

void PairAllegroMTS::init_style()
{
  if (!model) error->all(FLERR, "pair allegro/mts: no model loaded; use pair_coeff * * <model>.nequip.pt2 ...");
  if (force->newton_pair == 0)
    error->all(FLERR,
               "Pair style allegro/mts requires newton pair on (forces on ghost atoms are "
               "returned to their owners); remove `newton off` from the input");
  if (strcmp(update->unit_style, "metal") != 0)
    error->all(FLERR, "Pair style allegro/mts requires units metal (eV, Angstrom); current units are {}",
               update->unit_style);

  // full list at this model's own cutoff (LAMMPS adds the skin).  Note:
  // LAMMPS 22Jul2025 (Neighbor::morph_unique) keeps a custom cutoff on a
  // perpetual list only when it is *larger* than the master cutoff, so under
  // hybrid/overlay the short-range instance still receives the long list.
  // compute() therefore filters every pair against this model's own cutoff
  // and passes the model only the ghosts it really reaches; the request
  // below only saves list-building work on LAMMPS versions that honour it.
  auto req = neighbor->add_request(this, NeighConst::REQ_FULL);
  req->set_cutoff(cutoff_max);
  trimmed_at = -1;
  trimmed_from = nullptr;
  if (verbose) utils::logmesg(lmp, "allegro/mts[{}]: neighbour request cutoff {} (+ skin {})\n", model_path, cutoff_max, neighbor->skin);
}

/* ---------------------------------------------------------------------- */

double PairAllegroMTS::init_one(int i, int j)
{
  if (setflag[i][j] == 0) return 0.0;
  return std::sqrt(cutsq_type[i][j]);
}

/* ----------------------------------------------------------------------
   evaluate the model on nnodes nodes / nedges edges already staged in the
   scratch buffers; results go to res_*
------------------------------------------------------------------------- */

void PairAllegroMTS::run_model(int nnodes, int nedges)
{
  auto f64 = torch::TensorOptions().dtype(torch::kFloat64);
  auto i64 = torch::TensorOptions().dtype(torch::kInt64);

  // stage edge_index as one contiguous (2, E) block
  torch::Tensor edges = torch::empty({2, (int64_t) nedges}, i64);
  if (nedges > 0) {
    std::memcpy(edges.data_ptr<int64_t>(), edge_src.data(), sizeof(int64_t) * nedges);
    std::memcpy(edges.data_ptr<int64_t>() + nedges, edge_dst.data(), sizeof(int64_t) * nedges);
  }
  torch::Tensor pos = torch::from_blob(node_pos.data(), {(int64_t) nnodes, 3}, f64);
  torch::Tensor types = torch::from_blob(node_type.data(), {(int64_t) nnodes}, i64);

  std::vector<torch::Tensor> inputs;
  inputs.reserve(input_names.size());
  for (const auto &name : input_names) {
    if (name == "pos")
      inputs.push_back(pos);
    else if (name == "edge_index")
      inputs.push_back(edges);
    else
      inputs.push_back(types);
  }

  std::vector<torch::Tensor> out;
  try {
    torch::NoGradGuard no_grad;    // the compiled graph does its own autograd
    out = model->run(inputs);
  } catch (const std::exception &e) {
    auto lines = utils::split_lines(e.what());
    error->one(FLERR, "pair allegro/mts: model '{}' failed on {} nodes / {} edges: {}", model_path, nnodes, nedges,
               lines.empty() ? std::string("unknown error") : lines[0]);
  }

  torch::Tensor e = out[out_energy].to(torch::kFloat64).contiguous().view({-1});
  torch::Tensor f = out[out_forces].to(torch::kFloat64).contiguous().view({-1});
  torch::Tensor v = out[out_virial].to(torch::kFloat64).contiguous().view({-1});
  if (e.numel() != nnodes || f.numel() != 3 * (int64_t) nnodes || v.numel() != 9)
    error->one(FLERR, "pair allegro/mts: unexpected output shapes from model '{}'", model_path);

  res_energy.assign(e.data_ptr<double>(), e.data_ptr<double>() + nnodes);
  res_forces.assign(f.data_ptr<double>(), f.data_ptr<double>() + 3 * (size_t) nnodes);
  std::copy(v.data_ptr<double>(), v.data_ptr<double>() + 9, res_virial);
}

/* ----------------------------------------------------------------------
   keep the pairs of LAMMPS' list that were within (own cutoff + skin) when
   LAMMPS built it.  Trimming happens at the first call after a build, when
   atoms may already have moved by up to `shift` (at most one r-RESPA inner
   step), so the threshold is widened by 2*shift.  The result is then valid
   until the next rebuild for the same reason LAMMPS' own list is.
------------------------------------------------------------------------- */

void PairAllegroMTS::trim_list()
{
  double **x = atom->x;
  int *type = atom->type;
  const int inum = list->inum;
  const int *ilist = list->ilist;
  const double skin = neighbor->skin;
  const int ntypes = atom->ntypes;

  // largest displacement since the build (LAMMPS keeps the build positions
  // of local atoms; ghosts move with their owners, possibly on other ranks)
  double shiftsq = 0.0;
  double **xhold = neighbor->get_xhold();
  for (int i = 0; i < atom->nlocal; ++i) {
    const double dx = x[i][0] - xhold[i][0], dy = x[i][1] - xhold[i][1], dz = x[i][2] - xhold[i][2];
    shiftsq = std::max(shiftsq, dx * dx + dy * dy + dz * dz);
  }
  double shiftsq_all = 0.0;
  MPI_Allreduce(&shiftsq, &shiftsq_all, 1, MPI_DOUBLE, MPI_MAX, world);
  const double margin = skin + 2.0 * std::sqrt(shiftsq_all);

  std::vector<double> reachsq((size_t) (ntypes + 1) * (ntypes + 1), -1.0);
  for (int i = 1; i <= ntypes; ++i)
    for (int j = 1; j <= ntypes; ++j)
      if (setflag[i][j] || setflag[j][i]) {
        const double r = std::sqrt(cutsq_type[i][j]) + margin;
        reachsq[(size_t) i * (ntypes + 1) + j] = r * r;
      }

  trim_offset.assign(inum + 1, 0);
  trim_neigh.clear();
  for (int ii = 0; ii < inum; ++ii) {
    const int i = ilist[ii];
    trim_offset[ii] = (int) trim_neigh.size();
    const int itype = type[i];
    if (type_map[itype] >= 0) {
      const int *jlist = list->firstneigh[i];
      const int jnum = list->numneigh[i];
      for (int jj = 0; jj < jnum; ++jj) {
        const int j = jlist[jj] & NEIGHMASK;
        const double dx = x[i][0] - x[j][0], dy = x[i][1] - x[j][1], dz = x[i][2] - x[j][2];
        if (dx * dx + dy * dy + dz * dz <= reachsq[(size_t) itype * (ntypes + 1) + type[j]])
          trim_neigh.push_back(j);
      }
    }
  }
  trim_offset[inum] = (int) trim_neigh.size();
  trimmed_at = neighbor->ncalls;
  trimmed_from = list;
}

/* ---------------------------------------------------------------------- */

void PairAllegroMTS::compute(int eflag, int vflag)
{
  ev_init(eflag, vflag);
  if (vflag_atom)
    error->all(FLERR, "Pair style allegro/mts does not provide per-atom virials (compute stress/atom)");

  double **x = atom->x;
  double **f = atom->f;
  int *type = atom->type;
  const int nall = atom->nlocal + atom->nghost;

  const int inum = list->inum;
  int *ilist = list->ilist;
  int *numneigh = list->numneigh;
  int **firstneigh = list->firstneigh;

  // LAMMPS may hand us a list built for a longer cutoff (hybrid/overlay with a
  // longer-ranged sub-style): trim it once per rebuild.  The decision uses
  // only global quantities: trim_list() is collective (one MPI_Allreduce).
  use_trimmed = neighbor->dist_check && neighbor->cutneighmax > cutoff_max + neighbor->skin + 1.0e-8;
  if (use_trimmed && (trimmed_at != neighbor->ncalls || trimmed_from != list)) trim_list();
  if (use_trimmed && (int) trim_offset.size() != inum + 1)
    error->one(FLERR, "pair allegro/mts: trimmed neighbour list out of date (internal error)");

  if (inum == 0) return;

  // ---- build the compact graph: centres first, then every atom (local
  //      or ghost) that appears as a neighbour within this model's cutoff
  if ((int) node_of_atom.size() < nall) node_of_atom.resize(nall);
  std::fill(node_of_atom.begin(), node_of_atom.begin() + nall, -1);
  atom_of_node.clear();
  edge_src.clear();
  edge_dst.clear();

  for (int ii = 0; ii < inum; ++ii) {
    const int i = ilist[ii];
    if (type_map[type[i]] < 0) continue;
    node_of_atom[i] = (int) atom_of_node.size();
    atom_of_node.push_back(i);
  }
  const int ncentres = (int) atom_of_node.size();

  for (int ii = 0; ii < inum; ++ii) {
    const int i = ilist[ii];
    const int itype = type[i];
    if (type_map[itype] < 0) continue;
    const int ni = node_of_atom[i];
    const double xi = x[i][0], yi = x[i][1], zi = x[i][2];
    const int *jlist = use_trimmed ? trim_neigh.data() + trim_offset[ii] : firstneigh[i];
    const int jnum = use_trimmed ? trim_offset[ii + 1] - trim_offset[ii] : numneigh[i];
    for (int jj = 0; jj < jnum; ++jj) {
      const int j = jlist[jj] & NEIGHMASK;
      const int jtype = type[j];
      if (type_map[jtype] < 0) continue;
      const double dx = xi - x[j][0], dy = yi - x[j][1], dz = zi - x[j][2];
      if (dx * dx + dy * dy + dz * dz > cutsq_type[itype][jtype]) continue;
      int nj = node_of_atom[j];
      if (nj < 0) {
        nj = node_of_atom[j] = (int) atom_of_node.size();
        atom_of_node.push_back(j);
      }
      edge_src.push_back(ni);
      edge_dst.push_back(nj);
    }
  }

  const int nnodes = (int) atom_of_node.size();
  const int nedges = (int) edge_src.size();
  node_pos.resize(3 * (size_t) nnodes);
  node_type.resize(nnodes);
  for (int k = 0; k < nnodes; ++k) {
    const int a = atom_of_node[k];
    node_pos[3 * k + 0] = x[a][0];
    node_pos[3 * k + 1] = x[a][1];
    node_pos[3 * k + 2] = x[a][2];
    node_type[k] = type_map[type[a]];
  }

  const double t_model0 = platform::walltime();
  run_model(nnodes, nedges);
  const double t_model = platform::walltime() - t_model0;

  // ---- scatter results back
  for (int k = 0; k < nnodes; ++k) {
    const int a = atom_of_node[k];
    f[a][0] += res_forces[3 * k + 0];
    f[a][1] += res_forces[3 * k + 1];
    f[a][2] += res_forces[3 * k + 2];
  }
  if (eflag) {
    double esum = 0.0;
    for (int k = 0; k < ncentres; ++k) {
      esum += res_energy[k];
      if (eflag_atom) eatom[atom_of_node[k]] += res_energy[k];
    }
    if (eflag_global) eng_vdwl += esum;
  }
  if (vflag_global) {
    // model virial is a full 3x3 (row-major); LAMMPS wants xx yy zz xy xz yz
    virial[0] += res_virial[0];
    virial[1] += res_virial[4];
    virial[2] += res_virial[8];
    virial[3] += 0.5 * (res_virial[1] + res_virial[3]);
    virial[4] += 0.5 * (res_virial[2] + res_virial[6]);
    virial[5] += 0.5 * (res_virial[5] + res_virial[7]);
  }

  if (verbose) {
    bigint listed = 0;
    if (use_trimmed)
      listed = trim_neigh.size();
    else
      for (int ii = 0; ii < inum; ++ii) listed += numneigh[ilist[ii]];
    utils::logmesg(lmp,
                   "allegro/mts[{}] rank {} step {}: {} centres, {} nodes, {} edges, {} list entries, "
                   "model {:.2f} ms\n",
                   model_path, comm->me, update->ntimestep, ncentres, nnodes, nedges, listed, 1e3 * t_model);
  }
}
