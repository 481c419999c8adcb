/* The command-line front end: one cmd_<verb>.c per verb, each a thin layer over the
 * library. Conventions (docs/cli.md): options before or after inputs, --help on every
 * verb, human output on stdout, progress and errors on stderr, exit 0 ok / 1 error /
 * 2 usage. */
#ifndef PKTLM_CLI_H
#define PKTLM_CLI_H
#include <stdio.h>

int cmd_stats(int argc, char **argv);
int cmd_prep(int argc, char **argv);
int cmd_export(int argc, char **argv);
int cmd_pretrain(int argc, char **argv);
int cmd_info(int argc, char **argv);
int cmd_import(int argc, char **argv);
int cmd_export_model(int argc, char **argv);
int cmd_compare(int argc, char **argv);
int cmd_finetune(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_classify(int argc, char **argv);
/* finetune tasks (cmd_finetune dispatches on --task) */
int finetune_classify_main(int argc, char **argv);
int cmd_generate(int argc, char **argv);
int cmd_finetune_gen(int argc, char **argv);
int finetune_field_main(int argc, char **argv);
/* pktlm eval on a header-field model (cmd_field.c); eval_is_field_model: checkpoint says so */
int eval_field_main(int argc, char **argv);
int eval_is_field_model(const char *path);

/* The end of pretrain and finetune --task generate (cmd_pretrain.c): run(o) (Ctrl-C / SIGTERM
 * stop it after the step, the checkpoint kept), then the error or the summary line. Returns
 * the exit status. */
struct pretrain_opts;
int cli_lm_train(const char *verb, struct pretrain_opts *o, int (*run)(struct pretrain_opts *));

/* Print "pktlm VERB: message" on stderr; returns 1 (for `return cli_error(...)`). */
int cli_error(const char *verb, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Parse a number option value or print a usage error. 0 ok, -1 bad. */
int cli_double(const char *verb, const char *opt, const char *s, double *out);
int cli_long(const char *verb, const char *opt, const char *s, long *out);
/* The same with a range: lo <= value <= hi (hi = LONG_MAX: no upper bound), and a number > 0.
 * Both print what was expected ("--packets must be 1..1000000, got 0"): 0 ok, -1 bad. */
int cli_long_in(const char *verb, const char *opt, const char *s, long lo, long hi, long *out);
int cli_positive(const char *verb, const char *opt, const char *s, double *out);
/* Expand INPUT arguments (files or directories, recursed, sorted) into a list of files.
 * 0 ok; 1 listed, but a folder (or an entry) inside could not be read: warned on stderr, and
 * the verb's exit status is to be 1; -1 error (printed; e.g. an argument that does not exist). */
/* 1 when path names an Arrow IPC file (NAME.arrow: tcpflowgen's token files). */
int cli_is_arrow(const char *path);
int cli_expand_inputs(const char *verb, char **inputs, int n, char ***files, int *nfiles);
void cli_free_list(char **list, int n);
/* Re-execute with OMP_WAIT_POLICY=passive unless it is set (see common.c: spinning OpenMP
 * threads collapse on a shared machine). Call first thing in verbs that run the model. */
void cli_prefer_passive_wait(int argc, char **argv);
/* Ctrl-C / SIGTERM set the returned flag instead of killing (a second one kills): the verb
 * stops at its next check, removes its temporary files and exits 130 (docs/cli.md). */
#include <signal.h>
volatile sig_atomic_t *cli_catch_interrupt(void);
/* Write s as a JSON string literal (quotes, backslashes and control characters escaped). */
void cli_json_str(FILE *f, const char *s);
/* Write s as one CSV field (RFC 4180: quoted, with quotes doubled, when it holds a comma, a
 * quote or a line break: a label folder named "a<newline>b" stays one field of one row). */
void cli_csv_str(FILE *f, const char *s);
#endif
