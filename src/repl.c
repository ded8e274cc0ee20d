/* The interactive prompt. Lines come from GNU readline's callback interface
 * inside a poll loop that also watches a signalfd, so Ctrl-C at the prompt is
 * a plain event, not a signal handler. SIGINT stays blocked except while Lua
 * runs; then a handler stops the Lua code as lua5.4 does. */
#include "repl.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <lauxlib.h>
#include <readline/history.h>
#include <readline/readline.h>

#include "aws_profile.h"
#include "bind.h"
#include "runtime.h"

#define REPL_PROMPT          "ddb> "
#define REPL_PROMPT_MORE     "...> "
#define REPL_HISTORY_FILE    ".ddbrun_history"
#define REPL_HISTORY_LINES   1000
#define REPL_MIN_SECRET_LEN  8      /* shorter values ("local") are not real secrets */
#define REPL_SHOW_KEY        "ddbrun.repl.show"

typedef struct repl_session {
    lua_State *L;
    const char *progname;
    char history_path[PATH_MAX];        /* "" = no history file ($HOME unset) */
    aws_profiles profiles;              /* the shared files: their secret keys are never saved */
    int sigint_fd;                      /* signalfd: readable after Ctrl-C at the prompt */
    char *line;                         /* readline's last line (owned), NULL at end of input */
    int line_ready;
} repl_session;

/* The session of the running prompt. Static because neither a signal handler
 * nor readline's line callback can be given a pointer; set and cleared by
 * repl_run_session only. */
static repl_session *volatile repl_active;

static void repl_stop_hook(lua_State *L, lua_Debug *ar)
{
    (void)ar;
    lua_sethook(L, NULL, 0, 0);
    luaL_error(L, "interrupted!");
}

/* Installed only while Lua runs. lua_sethook is the one Lua call that is
 * safe in a signal handler. */
static void repl_on_sigint(int sig)
{
    repl_session *s = repl_active;
    signal(sig, SIG_DFL);   /* a second Ctrl-C ends ddbrun, as in lua5.4 */
    if (s) lua_sethook(s->L, repl_stop_hook, LUA_MASKCALL | LUA_MASKRET | LUA_MASKCOUNT, 1);
}

static void repl_arm_sigint(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = repl_on_sigint;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
}

/* Consumes the pending Ctrl-Cs; returns how many there were. */
static int repl_take_sigint(repl_session *s)
{
    struct signalfd_siginfo info;
    int n = 0;
    while (read(s->sigint_fd, &info, sizeof info) == (ssize_t)sizeof info) n++;
    return n;
}

static void repl_on_line(char *line)
{
    repl_session *s = repl_active;
    s->line = line;
    s->line_ready = 1;
    rl_callback_handler_remove();   /* no prompt while the line is evaluated */
}

static void repl_clear_line(void)
{
    rl_free_line_state();
    rl_callback_sigcleanup();
    rl_replace_line("", 0);
    rl_callback_handler_remove();
    fputs("\n", stdout);
    fflush(stdout);
}

/* Reads one line with prompt. Returns 1 with s->line set (NULL at end of
 * input), or 0 when Ctrl-C cleared the line. */
static int repl_read_line(repl_session *s, const char *prompt)
{
    s->line = NULL;
    s->line_ready = 0;
    rl_callback_handler_install(prompt, repl_on_line);
    while (!s->line_ready) {
        struct pollfd fds[2] = { { STDIN_FILENO, POLLIN, 0 }, { s->sigint_fd, POLLIN, 0 } };
        int n = poll(fds, 2, -1);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            rl_callback_handler_remove();
            return 1;   /* cannot wait for input: as at the end of input */
        }
        if (fds[1].revents && repl_take_sigint(s) > 0) {
            repl_clear_line();
            return 0;
        }
        if (fds[0].revents) rl_callback_read_char();
    }
    return 1;
}

/* --- history --- */

static int repl_contains(const char *line, const char *secret)
{
    return strlen(secret) >= REPL_MIN_SECRET_LEN && strstr(line, secret) != NULL;
}

/* Lines holding a configured secret (environment, .env or any profile of
 * the shared files), or typing one in as a client option. */
static int repl_has_secret(const repl_session *s, const char *line)
{
    static const char *const names[] = { "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN" };
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        const char *v = getenv(names[i]);
        if (v && repl_contains(line, v)) return 1;
    }
    for (size_t i = 0; i < s->profiles.count; i++) {
        const aws_profile_entry *e = &s->profiles.entries[i];
        if ((strcmp(e->key, "aws_secret_access_key") == 0 || strcmp(e->key, "aws_session_token") == 0) &&
            repl_contains(line, e->value))
            return 1;
    }
    return strstr(line, "secret_access_key") || strstr(line, "session_token");
}

/* Unreadable or malformed files are the client's to report: here they only
 * mean no profile secrets to leave out. */
static void repl_load_profiles(repl_session *s)
{
    char config_path[1024], credentials_path[1024], err[256];
    aws_profiles_paths(getenv("AWS_CONFIG_FILE"), getenv("AWS_SHARED_CREDENTIALS_FILE"), getenv("HOME"),
                       config_path, sizeof config_path, credentials_path, sizeof credentials_path);
    if (aws_profiles_load(&s->profiles, config_path, credentials_path, err, sizeof err) != 0)
        memset(&s->profiles, 0, sizeof s->profiles);
}

static void repl_history_open(repl_session *s)
{
    const char *home = getenv("HOME");
    using_history();
    stifle_history(REPL_HISTORY_LINES);
    if (!home || !*home ||
        snprintf(s->history_path, sizeof s->history_path, "%s/%s", home, REPL_HISTORY_FILE) >=
            (int)sizeof s->history_path) {
        s->history_path[0] = '\0';
        return;
    }
    int fd = open(s->history_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (fd < 0) {
        fprintf(stderr, "%s: history not kept: cannot open %s: %s\n", s->progname, s->history_path,
                strerror(errno));
        s->history_path[0] = '\0';
        return;
    }
    close(fd);
    read_history(s->history_path);
}

static void repl_history_add(repl_session *s, const char *text)
{
    if (!*text || repl_has_secret(s, text)) return;
    add_history(text);
    if (s->history_path[0]) append_history(1, s->history_path);
}

/* --- reading a statement --- */

/* The "<eof>" at the end of a syntax error means the chunk is unfinished. */
static int repl_incomplete(lua_State *L, int status)
{
    static const char mark[] = "<eof>";
    size_t len;
    const char *msg = lua_tolstring(L, -1, &len);
    return status == LUA_ERRSYNTAX && msg && len >= sizeof mark - 1 &&
           strcmp(msg + len - (sizeof mark - 1), mark) == 0;
}

/* Pushes the line as a string and frees readline's copy. */
static void repl_push_line(repl_session *s)
{
    lua_pushstring(s->L, s->line);
    free(s->line);
    s->line = NULL;
}

/* With the code so far on the stack, loads it, reading more lines while it
 * is unfinished. Returns the load status (the function or the message
 * replaces the code), or -1 when Ctrl-C or the end of input abandoned it. */
static int repl_load_statement(repl_session *s)
{
    lua_State *L = s->L;
    for (;;) {
        size_t len;
        const char *code = lua_tolstring(L, -1, &len);
        int status = luaL_loadbuffer(L, code, len, "=stdin");
        if (!repl_incomplete(L, status)) {
            repl_history_add(s, lua_tostring(L, -2));
            lua_remove(L, -2);
            return status;
        }
        lua_pop(L, 1);
        if (!repl_read_line(s, REPL_PROMPT_MORE) || !s->line) {
            lua_pop(L, 1);
            return -1;
        }
        lua_pushliteral(L, "\n");
        repl_push_line(s);
        lua_concat(L, 3);
    }
}

/* Reads a statement and leaves its function on the stack. Returns 1, 0 at
 * end of input, or -1 (nothing pushed) after Ctrl-C or a syntax error. */
static int repl_read_statement(repl_session *s)
{
    lua_State *L = s->L;
    if (!repl_read_line(s, REPL_PROMPT)) return -1;
    if (!s->line) return 0;
    const char *text = s->line[0] == '=' ? s->line + 1 : s->line;
    const char *expr = lua_pushfstring(L, "return %s;", text);
    if (luaL_loadbuffer(L, expr, strlen(expr), "=stdin") == LUA_OK) {
        lua_remove(L, -2);
        repl_history_add(s, s->line);
        free(s->line);
        s->line = NULL;
        return 1;
    }
    lua_pop(L, 2);
    repl_push_line(s);
    int status = repl_load_statement(s);
    if (status == LUA_OK) return 1;
    if (status > 0) {
        fprintf(stderr, "%s: %s\n", s->progname, lua_tostring(L, -1));
        lua_pop(L, 1);
    }
    return -1;
}

/* --- evaluating --- */

/* A ddb.Error already says what failed and where (operation, endpoint,
 * request id): at the prompt it prints alone. Anything else gets the
 * traceback, as in lua5.4. */
static int repl_message(lua_State *L)
{
    if (lua_type(L, 1) == LUA_TTABLE && lua_getmetatable(L, 1)) {
        luaL_getmetatable(L, BIND_ERROR_MT);
        if (lua_rawequal(L, -1, -2)) {
            luaL_tolstring(L, 1, NULL);
            return 1;
        }
        lua_pop(L, 2);
    }
    return runtime_traceback(L);
}

static void repl_report(repl_session *s, int status)
{
    if (status == LUA_OK) return;
    fprintf(stderr, "%s: %s\n", s->progname, lua_tostring(s->L, -1));
    fflush(stderr);
    lua_pop(s->L, 1);
}

/* Calls the function on top of the stack with Ctrl-C able to stop it, then
 * shows its results through ddb.repl.show. */
static void repl_evaluate(repl_session *s)
{
    lua_State *L = s->L;
    sigset_t sigint;
    sigemptyset(&sigint);
    sigaddset(&sigint, SIGINT);
    int base = lua_gettop(L);
    lua_pushcfunction(L, repl_message);
    lua_insert(L, base);
    repl_arm_sigint();
    sigprocmask(SIG_UNBLOCK, &sigint, NULL);
    int status = lua_pcall(L, 0, LUA_MULTRET, base);
    sigprocmask(SIG_BLOCK, &sigint, NULL);
    if (lua_gethook(L) == repl_stop_hook) lua_sethook(L, NULL, 0, 0);
    if (status == LUA_OK && lua_gettop(L) > base) {
        lua_getfield(L, LUA_REGISTRYINDEX, REPL_SHOW_KEY);
        lua_insert(L, base + 1);
        status = lua_pcall(L, lua_gettop(L) - base - 1, 0, base);
    }
    repl_report(s, status);
    lua_settop(L, base - 1);
}

/* --- the session --- */

/* require("ddb.repl"): installs the globals and keeps its show(). */
static int repl_setup(lua_State *L)
{
    lua_getglobal(L, "require");
    lua_pushliteral(L, "ddb.repl");
    lua_call(L, 1, 1);
    lua_getfield(L, -1, "install");
    lua_pushglobaltable(L);
    lua_call(L, 1, 0);
    lua_getfield(L, -1, "show");
    lua_setfield(L, LUA_REGISTRYINDEX, REPL_SHOW_KEY);
    return 0;
}

/* The loop, run in protected mode so a memory error ends it cleanly. */
static int repl_loop(lua_State *L)
{
    repl_session *s = lua_touserdata(L, 1);
    lua_settop(L, 0);
    for (;;) {
        int got = repl_read_statement(s);
        if (got == 0) break;
        if (got > 0) repl_evaluate(s);
    }
    fputs("\n", stdout);
    return 0;
}

/* Runs the loop with SIGINT blocked and read through a signalfd; restores
 * the signal mask and disposition after. Returns the loop's status. */
static int repl_run_session(repl_session *s)
{
    lua_State *L = s->L;
    sigset_t sigint, old_mask;
    struct sigaction old_action;
    sigemptyset(&sigint);
    sigaddset(&sigint, SIGINT);
    sigprocmask(SIG_BLOCK, &sigint, &old_mask);
    sigaction(SIGINT, NULL, &old_action);
    int status = LUA_ERRERR;
    s->sigint_fd = signalfd(-1, &sigint, SFD_NONBLOCK | SFD_CLOEXEC);
    if (s->sigint_fd < 0) {
        fprintf(stderr, "%s: cannot start the prompt: signalfd: %s\n", s->progname, strerror(errno));
        goto done;
    }
    repl_active = s;
    lua_pushcfunction(L, runtime_traceback);
    lua_pushcfunction(L, repl_loop);
    lua_pushlightuserdata(L, s);
    status = lua_pcall(L, 1, 0, -3);
    repl_report(s, status);
    lua_pop(L, 1);
    rl_callback_handler_remove();
    repl_active = NULL;
    close(s->sigint_fd);
done:
    sigaction(SIGINT, &old_action, NULL);
    sigprocmask(SIG_SETMASK, &old_mask, NULL);
    return status;
}

int repl_run(lua_State *L, const char *progname)
{
    repl_session s;
    memset(&s, 0, sizeof s);
    s.L = L;
    s.progname = progname;
    s.sigint_fd = -1;
    repl_load_profiles(&s);

    lua_pushcfunction(L, runtime_traceback);
    lua_pushcfunction(L, repl_setup);
    int status = lua_pcall(L, 0, 0, -2);
    if (status != LUA_OK) {
        fprintf(stderr, "%s: cannot start the prompt: %s\n", progname, lua_tostring(L, -1));
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
    if (status == LUA_OK) {
        rl_readline_name = "ddbrun";
        rl_catch_signals = 0;
        repl_history_open(&s);
        status = repl_run_session(&s);
        free(s.line);
        if (s.history_path[0]) history_truncate_file(s.history_path, REPL_HISTORY_LINES);
    }
    aws_profiles_free(&s.profiles);
    /* Leaving the prompt is not a failure, even after a processor run was
     * stopped at it (the run's summary said so): exit 0, as lua5.4 -i. */
    runtime_host *host = runtime_host_of(L);
    if (host) host->exit_status = 0;
    return status == LUA_OK ? EXIT_SUCCESS : EXIT_FAILURE;
}
