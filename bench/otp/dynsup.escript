#!/usr/bin/env escript
%% -*- erlang -*-
%% The OTP side of atlas's DynamicSupervisor bench: start 10,000 idle
%% gen_server children under a simple_one_for_one supervisor (Elixir's
%% DynamicSupervisor is the same engine), one start_child call at a time,
%% and report the time and the memory per child. Output lines use the
%% format of xtask/oracle/otp_bench.escript.
%%
%%   escript dynsup.escript [N]
-mode(compile).
-export([init/1, handle_call/3, handle_cast/2, start_worker/0]).

main(Args) ->
    N = case Args of [] -> 10000; [A] -> list_to_integer(A) end,
    ok = logger:set_primary_config(level, none),
    {ok, Sup} = supervisor:start_link(?MODULE, sup),
    unlink(Sup),
    erlang:garbage_collect(),
    M0 = erlang:memory(processes),
    T0 = erlang:monotonic_time(nanosecond),
    start_n(Sup, N),
    T1 = erlang:monotonic_time(nanosecond),
    erlang:garbage_collect(Sup),
    M1 = erlang:memory(processes),
    io:format("~-62s ~9.2f ms~n", ["dynsup start 10000 children", (T1 - T0) / 1.0e6]),
    io:format("~-62s ~9.2f bytes~n", ["dynsup bytes per idle child", (M1 - M0) / N]),
    halt(0).

start_n(_Sup, 0) -> ok;
start_n(Sup, K) -> {ok, _} = supervisor:start_child(Sup, []), start_n(Sup, K - 1).

start_worker() -> gen_server:start_link(?MODULE, worker, []).

init(sup) ->
    {ok, {#{strategy => simple_one_for_one, intensity => 20, period => 60},
          [#{id => w, start => {?MODULE, start_worker, []}, restart => permanent,
             shutdown => 5000, type => worker}]}};
init(worker) -> {ok, idle}.

handle_call(_Msg, _From, S) -> {reply, ok, S}.
handle_cast(_Msg, S) -> {noreply, S}.
