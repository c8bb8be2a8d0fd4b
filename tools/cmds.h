/*
 * cmds.h - entry points of the convlog subcommands, one file each
 * (cmd_<name>.c).  Each receives the arguments after "convlog", so
 * argv[0] is the command name, and returns the process exit status
 * (TOOL_OK, TOOL_FAIL or TOOL_USAGE from util.h).
 */
#ifndef CONVLOG_TOOL_CMDS_H
#define CONVLOG_TOOL_CMDS_H

int cmd_init(int argc, char **argv);
int cmd_import(int argc, char **argv);
int cmd_export(int argc, char **argv);
int cmd_ls(int argc, char **argv);
int cmd_show(int argc, char **argv);
int cmd_verify(int argc, char **argv);
int cmd_stats(int argc, char **argv);
int cmd_fork(int argc, char **argv);
int cmd_replay(int argc, char **argv);
int cmd_delete(int argc, char **argv);
int cmd_restore(int argc, char **argv);
int cmd_archive(int argc, char **argv);
int cmd_purge(int argc, char **argv);
int cmd_thread(int argc, char **argv);
int cmd_children(int argc, char **argv);
int cmd_tip(int argc, char **argv);
int cmd_session(int argc, char **argv);
int cmd_search(int argc, char **argv);
int cmd_reindex(int argc, char **argv);
int cmd_sync(int argc, char **argv);
int cmd_compact(int argc, char **argv);
int cmd_inspect(int argc, char **argv);
int cmd_dump(int argc, char **argv);

#endif
