/* frechet.c - Frechet distance between Gaussians fitted to two feature
 * sets, with LAPACK's symmetric eigensolver (dsyevd, shipped by OpenBLAS),
 * and the trajectory features it is applied to. */
#include "eval.h"

#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* LAPACK (Fortran) symbol; the trailing lengths are gfortran's hidden
 * CHARACTER arguments. */
extern void dsyevd_(const char *jobz, const char *uplo, const int *n, double *a, const int *lda, double *w,
                    double *work, const int *lwork, int *iwork, const int *liwork, int *info, size_t jobz_len,
                    size_t uplo_len);

/* Eigen-decomposes the symmetric a[D][D] in place: w gets the eigenvalues
 * in ascending order and, with vectors, a the eigenvectors (as columns in
 * the Fortran sense: rows of the C array). */
static int syevd(double *a, int D, double *w, int vectors, vdit_err *err)
{
    int lwork = -1, liwork = -1, info = 0;
    double wq;
    int iwq;
    const char *jobz = vectors ? "V" : "N";
    dsyevd_(jobz, "U", &D, a, &D, w, &wq, &lwork, &iwq, &liwork, &info, 1, 1);
    if (info) return vdit_seterr(err, "frechet: dsyevd workspace query failed (info %d)", info);
    lwork = (int)wq + 1;
    liwork = iwq > 1 ? iwq : 1;
    double *work = malloc((size_t)lwork * sizeof(double));
    int *iwork = malloc((size_t)liwork * sizeof(int));
    if (!work || !iwork) {
        free(work), free(iwork);
        return vdit_seterr(err, "frechet: out of memory for a %dx%d eigenproblem", D, D);
    }
    dsyevd_(jobz, "U", &D, a, &D, w, work, &lwork, iwork, &liwork, &info, 1, 1);
    free(work), free(iwork);
    if (info) return vdit_seterr(err, "frechet: dsyevd did not converge (info %d, dimension %d)", info, D);
    return 0;
}

/* mu[D], cov[D][D] (1/(n-1)) of x[n][D] */
static int moments(const double *x, int n, int D, double *mu, double *cov, vdit_err *err)
{
    memset(mu, 0, (size_t)D * sizeof(double));
    for (int i = 0; i < n; i++)
        for (int d = 0; d < D; d++) mu[d] += x[(size_t)i * D + d];
    for (int d = 0; d < D; d++) mu[d] /= n;
    double *xc = malloc((size_t)n * D * sizeof(double));
    if (!xc) return vdit_seterr(err, "frechet: out of memory for %d vectors of %d", n, D);
    for (int i = 0; i < n; i++)
        for (int d = 0; d < D; d++) xc[(size_t)i * D + d] = x[(size_t)i * D + d] - mu[d];
    /* cov = xc^T xc / (n-1), upper triangle, then mirrored */
    cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, D, n, 1.0 / (n - 1), xc, D, 0.0, cov, D);
    for (int a = 0; a < D; a++)
        for (int b = 0; b < a; b++) cov[(size_t)a * D + b] = cov[(size_t)b * D + a];
    free(xc);
    return 0;
}

int eval_frechet_ref_init(eval_frechet_ref *r, const double *a, int Na, int D, vdit_err *err)
{
    memset(r, 0, sizeof *r);
    if (Na < 2 || D < 1) return vdit_seterr(err, "frechet: need at least 2 vectors and D >= 1 (got %d, D %d)", Na, D);
    size_t DD = (size_t)D * D;
    r->D = D;
    r->mu = malloc((size_t)D * sizeof(double));
    r->half = malloc(DD * sizeof(double));
    double *cov = malloc(DD * sizeof(double)), *w = malloc((size_t)D * sizeof(double));
    if (!r->mu || !r->half || !cov || !w) {
        free(cov), free(w), eval_frechet_ref_free(r);
        return vdit_seterr(err, "frechet: out of memory for dimension %d", D);
    }
    if (moments(a, Na, D, r->mu, cov, err)) {
        free(cov), free(w), eval_frechet_ref_free(r);
        return -1;
    }
    r->trace = 0.0;
    for (int d = 0; d < D; d++) r->trace += cov[(size_t)d * D + d];
    /* Sa^1/2 = V diag(sqrt(max(l, 0))) V^T. dsyevd works on the column-major
     * matrix, which for a symmetric matrix is the same numbers; eigenvector k
     * comes back as row k. Scaling row k by l_k^1/4 makes half = h^T h. */
    if (syevd(cov, D, w, 1, err)) {
        free(cov), free(w), eval_frechet_ref_free(r);
        return -1;
    }
    for (int k = 0; k < D; k++) {
        double s = sqrt(sqrt(w[k] > 0 ? w[k] : 0.0));
        for (int d = 0; d < D; d++) cov[(size_t)k * D + d] *= s;
    }
    cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, D, D, D, 1.0, cov, D, cov, D, 0.0, r->half, D);
    free(cov), free(w);
    return 0;
}

void eval_frechet_ref_free(eval_frechet_ref *r)
{
    free(r->mu), free(r->half);
    memset(r, 0, sizeof *r);
}

int eval_frechet_to(const eval_frechet_ref *r, const double *b, int Nb, double *fd, vdit_err *err)
{
    *fd = NAN;
    int D = r->D;
    if (Nb < 2) return vdit_seterr(err, "frechet: need at least 2 vectors (got %d)", Nb);
    size_t DD = (size_t)D * D;
    double *mu = malloc((size_t)D * sizeof(double)), *cov = malloc(DD * sizeof(double));
    double *t = malloc(DD * sizeof(double)), *w = malloc((size_t)D * sizeof(double));
    int rc = -1;
    if (!mu || !cov || !t || !w) {
        vdit_seterr(err, "frechet: out of memory for dimension %d", D);
        goto done;
    }
    if (moments(b, Nb, D, mu, cov, err)) goto done;
    double dmu = 0.0, trb = 0.0;
    for (int d = 0; d < D; d++) {
        dmu += (r->mu[d] - mu[d]) * (r->mu[d] - mu[d]);
        trb += cov[(size_t)d * D + d];
    }
    /* M = Sa^1/2 Sb Sa^1/2, symmetric PSD; tr sqrt(Sa Sb) = sum sqrt(eig(M)) */
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, D, D, D, 1.0, r->half, D, cov, D, 0.0, t, D);
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, D, D, D, 1.0, t, D, r->half, D, 0.0, cov, D);
    for (int i = 0; i < D; i++) /* symmetrise the rounding */
        for (int j = 0; j < i; j++) {
            double s = 0.5 * (cov[(size_t)i * D + j] + cov[(size_t)j * D + i]);
            cov[(size_t)i * D + j] = cov[(size_t)j * D + i] = s;
        }
    if (syevd(cov, D, w, 0, err)) goto done;
    double trs = 0.0;
    for (int k = 0; k < D; k++) trs += sqrt(w[k] > 0 ? w[k] : 0.0);
    double v = dmu + r->trace + trb - 2.0 * trs;
    *fd = v > 0 ? v : 0.0;
    rc = 0;
done:
    free(mu), free(cov), free(t), free(w);
    return rc;
}

int eval_frechet(const double *a, int Na, const double *b, int Nb, int D, double *fd, vdit_err *err)
{
    *fd = NAN;
    if (Na < 2 || Nb < 2 || D < 1)
        return vdit_seterr(err, "frechet: need at least 2 vectors on each side and D >= 1 (got %d, %d, D %d)", Na, Nb,
                           D);
    eval_frechet_ref r;
    if (eval_frechet_ref_init(&r, a, Na, D, err)) return -1;
    int rc = eval_frechet_to(&r, b, Nb, fd, err);
    eval_frechet_ref_free(&r);
    return rc;
}

int eval_traj_dim(int T, int ctx) { return (T - ctx) * EVAL_NOBJ * 4; }

void eval_traj_features(const float *trk, int T, int ctx, double *feat)
{
    double *f = feat;
    for (int t = ctx; t < T; t++)
        for (int b = 0; b < EVAL_NOBJ; b++) {
            const float *p = trk + (size_t)t * 6 + 3 * b;
            int present = !isnan(p[0]);
            *f++ = present ? p[0] : 0.0;
            *f++ = present ? p[1] : 0.0;
            *f++ = present ? p[2] : 0.0;
            *f++ = present;
        }
}
