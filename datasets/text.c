/* text.c - the caption grammar's vocabulary and its tokenizer (issue 19):
 * every word the captions of scenes.c use, the ten digits and the decimal
 * point (numbers are written digit by digit, so values never seen in
 * training can still be written), and the comma. A word outside the
 * vocabulary is an error naming it, never a guess. */
#include "datasets.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

/* 0 and 1 are the padding and end tokens; the rest in the order of
 * datasets/FORMAT.md's grammar ("Captions") */
static const char *const VOCAB[] = {
    "<pad>", "<eos>", ",", ".", "0", "1", "2", "3", "4", "5", "6", "7", "8", "9",
    /* the objects and the scene */
    "a", "red", "blue", "ball", "of", "radius", "grey", "wall", "narrow", "floor", "closed", "box", "gravity",
    "units", "units/s", "wide", "the", "x", "y",
    /* what happens */
    "is", "rests", "without", "glides", "right", "left", "middle", "up", "down", "at", "falls", "from", "thrown",
    "moving", "moves", "hits", "head-on", "then", "bounces", "back", "keeps", "stops", "and", "on", "once", "twice",
    "again", "with", "restitution", "passes", "behind", "disappears", "partly", "around", "setting", "off",
    "starting"};
#define NVOCAB (int)(sizeof VOCAB / sizeof VOCAB[0])

int vdit_vocab_size(void) { return NVOCAB; }
const char *vdit_vocab_token(int id) { return id >= 0 && id < NVOCAB ? VOCAB[id] : NULL; }

static int lookup(const char *w, size_t n)
{
    for (int i = VDIT_TOK_FIRST_WORD; i < NVOCAB; i++)
        if (strlen(VOCAB[i]) == n && !strncmp(VOCAB[i], w, n)) return i;
    return -1;
}

/* "a, ball, ..." of the words, for the error message */
static void word_list(char *buf, size_t cap)
{
    size_t o = 0;
    buf[0] = 0;
    for (int i = VDIT_TOK_FIRST_WORD; i < NVOCAB && o < cap; i++)
        o += (size_t)snprintf(buf + o, cap - o, "%s%s", i > VDIT_TOK_FIRST_WORD ? " " : "", VOCAB[i]);
}

int vdit_tokenize(const char *text, int *ids, int cap, int *n, vdit_err *err)
{
    int k = 0;
    const char *p = text;
    while (*p) {
        if (isspace((unsigned char)*p)) {
            p++;
            continue;
        }
        int id[64], m = 0;
        if (*p == ',') {
            id[m++] = VDIT_TOK_COMMA;
            p++;
        } else if (isdigit((unsigned char)*p)) { /* a number: digit by digit, one point at most */
            int points = 0;
            while ((isdigit((unsigned char)*p) || (*p == '.' && isdigit((unsigned char)p[1]))) && m < 64) {
                points += *p == '.';
                id[m++] = *p == '.' ? VDIT_TOK_POINT : VDIT_TOK_DIGIT0 + (*p - '0');
                p++;
            }
            if (points > 1 || (*p && !isspace((unsigned char)*p) && *p != ',') || m >= 64)
                return vdit_seterr(err, "'%s': a number must be digits with at most one decimal point", text);
        } else {
            const char *w = p;
            while (*p && !isspace((unsigned char)*p) && *p != ',') p++;
            char low[64];
            size_t len = (size_t)(p - w);
            for (size_t i = 0; i < len && i < sizeof low; i++) low[i] = (char)tolower((unsigned char)w[i]);
            int t = len < sizeof low ? lookup(low, len) : -1;
            if (t < 0) {
                char words[1024];
                word_list(words, sizeof words);
                return vdit_seterr(err, "word '%.*s' is not in the caption vocabulary (numbers are written with digits; "
                                        "the words: %s)",
                                   (int)(len < 64 ? len : 64), w, words);
            }
            id[m++] = t;
        }
        for (int i = 0; i < m; i++) {
            if (k >= cap) return vdit_seterr(err, "'%.60s...': more than %d tokens", text, cap);
            ids[k++] = id[i];
        }
    }
    *n = k;
    return 0;
}

int vdit_detokenize(const int *ids, int n, char *buf, size_t cap)
{
    size_t o = 0;
    int prev_num = 0;
    if (cap) buf[0] = 0;
    for (int i = 0; i < n; i++) {
        const char *t = vdit_vocab_token(ids[i]);
        if (!t || ids[i] == VDIT_TOK_PAD) continue;
        if (ids[i] == VDIT_TOK_EOS) break;
        int num = ids[i] == VDIT_TOK_POINT || (ids[i] >= VDIT_TOK_DIGIT0 && ids[i] < VDIT_TOK_DIGIT0 + 10);
        /* a space between words, none inside a number or before a comma */
        const char *sep = o == 0 || ids[i] == VDIT_TOK_COMMA || (num && prev_num) ? "" : " ";
        int w = snprintf(buf + o, o < cap ? cap - o : 0, "%s%s", sep, t);
        o += (size_t)w;
        prev_num = num;
    }
    return (int)o;
}
