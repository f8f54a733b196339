#!/usr/bin/env escript
%% -*- erlang -*-
%% The OTP side of atlas's DynamicSupervisor bench: start N idle children
%% under a simple_one_for_one supervisor (Elixir's DynamicSupervisor is the
%% same engine), one start_child call at a time, and report the time and the
%% memory per child. Two kinds of child:
%%   gen_server   an idle gen_server (a process with a mailbox and the
%%                gen_server loop): the peer of a Rust child with a mailbox
%%   bare         a bare spawn_link'ed process blocked in receive: the peer
%%                of a bare Rust task
%% Each figure is the median over Samples runs. Output lines use the format
%% of xtask/oracle/otp_bench.escript.
%%
%%   escript dynsup.escript [N [Samples]]     (defaults: 10000 children, 5 runs)
-mode(compile).
-export([init/1, handle_call/3, handle_cast/2, start_worker/0, start_bare/0]).

main(Args) ->
    [N, Samples] = [list_to_integer(A) || A <- Args] ++ lists:nthtail(length(Args), ["10000", "5"]),
    ok = logger:set_primary_config(level, none),
    io:format("# ~s~n", [string:trim(erlang:system_info(system_version))]),
    io:format("# schedulers_online=~b logical_processors=~p wordsize=~b~n",
              [erlang:system_info(schedulers_online),
               erlang:system_info(logical_processors_available),
               erlang:system_info(wordsize)]),
    io:format("# ~b children per run, median over ~b runs~n", [N, Samples]),
    lists:foreach(
      fun(Kind) ->
              Rs = [run(Kind, N) || _ <- lists:seq(1, Samples)],
              report(io_lib:format("dynsup ~s start ~b children", [Kind, N]),
                     [Ms || {Ms, _} <- Rs], "ms"),
              report(io_lib:format("dynsup ~s bytes per idle child", [Kind]),
                     [B || {_, B} <- Rs], "bytes")
      end, [gen_server, bare]),
    halt(0).

run(Kind, N) ->
    {ok, Sup} = supervisor:start_link(?MODULE, {sup, Kind}),
    unlink(Sup),
    erlang:garbage_collect(),
    M0 = erlang:memory(processes),
    T0 = erlang:monotonic_time(nanosecond),
    start_n(Sup, N),
    T1 = erlang:monotonic_time(nanosecond),
    erlang:garbage_collect(Sup),
    M1 = erlang:memory(processes),
    Ref = monitor(process, Sup),
    exit(Sup, shutdown),
    receive {'DOWN', Ref, process, Sup, _} -> ok end,
    {(T1 - T0) / 1.0e6, (M1 - M0) / N}.

start_n(_Sup, 0) -> ok;
start_n(Sup, K) -> {ok, _} = supervisor:start_child(Sup, []), start_n(Sup, K - 1).

start_worker() -> gen_server:start_link(?MODULE, worker, []).

start_bare() -> {ok, spawn_link(fun idle/0)}.

idle() -> receive stop -> ok end.

median(L) ->
    S = lists:sort(L),
    Len = length(S),
    case Len rem 2 of
        1 -> lists:nth(Len div 2 + 1, S);
        0 -> (lists:nth(Len div 2, S) + lists:nth(Len div 2 + 1, S)) / 2
    end.

report(Label, Vals, Unit) ->
    io:format("~-62s ~9.2f ~s  [~.2f .. ~.2f]~n",
              [Label, float(median(Vals)), Unit, float(lists:min(Vals)), float(lists:max(Vals))]).

init({sup, Kind}) ->
    Start = case Kind of
                gen_server -> {?MODULE, start_worker, []};
                bare -> {?MODULE, start_bare, []}
            end,
    {ok, {#{strategy => simple_one_for_one, intensity => 20, period => 60},
          [#{id => w, start => Start, restart => permanent,
             shutdown => brutal_kill, type => worker}]}};
init(worker) -> {ok, idle}.

handle_call(_Msg, _From, S) -> {reply, ok, S}.
handle_cast(_Msg, S) -> {noreply, S}.
