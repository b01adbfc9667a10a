-- pgep's SQL helpers: the signatures of pg-event-proxy's events schema, made durable.
--
--   select events.send_message('channel', 'message');                      -- NOTIFY channel, '|message'
--   select events.send_message('channel', 'message', 'routing.key');       -- NOTIFY channel, 'routing.key|message'
--   select events.send_message('channel', 'message', 'routing.key', true); -- durable: outbox row, delivered at least once
--   create trigger ... after insert or update or delete on t for each row
--     execute procedure events.on_row_change('channel', '{"include":["id","name"]}');
--
-- A durable message is a row of events.events written in the caller's transaction: it exists
-- exactly when the transaction commits. pgep drains the table at start, after every reconnect
-- and whenever the wake-up notification arrives, publishes each row through the bridges of its
-- channel and deletes it (by id) once every such bridge's broker confirmed it. There is no
-- check whether pgep is connected, so no race between such a check and a disconnect, and each
-- row is its own event: identical messages are never folded.

create schema if not exists events;
grant usage on schema events to public;

create table if not exists events.events (
    id          bigserial primary key,
    channel     text not null,
    message     text not null,          -- 'routing_key|message', as a notification's payload
    created_on  timestamptz not null default now()
);

-- Messages pgep could never deliver (larger than the frame limit or the upstream's
-- max_message_bytes, or refused by the broker more than dead_letter_after times). pgep writes
-- the row before it lets the event go, so the events after it flow on and nothing is lost.
-- routing_key is what the broker was to get (the exchange's routing key, the MQTT or Redis
-- topic). pgep's WAL stream leaves this table out (wal2json "filter-tables").
create table if not exists events.dead_letters (
    id          bigserial primary key,
    bridge      text not null,          -- 'upstream/channel->kind:target'
    message_id  text not null,
    channel     text not null,          -- the PostgreSQL channel, or 'wal2json'
    routing_key text not null,
    body        text not null,
    error       text not null,
    created_on  timestamptz not null default now()
);

-- The channel pgep LISTENs on to learn that rows are waiting. Its payload is only a hint.
create or replace function events.wake_channel() returns text as
$$ select 'pg_event_proxy_outbox'::text $$ immutable language sql;

create or replace function events.send_message(
  channel text,
  message text,
  routing_key text default '',
  durable boolean default false,
  skip_flush boolean default false) returns void as
$$
begin
  if not durable then
    perform pg_notify(channel, routing_key || '|' || message);
  else
    insert into events.events (channel, message) values (channel, routing_key || '|' || message);
    -- skip_flush is kept for the signature; pgep drains on every wake-up either way.
    perform pg_notify(events.wake_channel(), '');
  end if;
end;
$$ volatile language plpgsql;

-- Asks pgep to drain the outbox now (the original sent the stored rows itself).
create or replace function events.flush() returns void as
$$
begin
  perform pg_notify(events.wake_channel(), '');
end
$$ volatile language plpgsql;

create or replace function events.on_row_change() returns trigger as
$$
declare
  channel text;
  routing_key text;
  row jsonb;
  config jsonb;
  excluded_columns text[];
begin
  routing_key := 'row_change' || '.table-' || TG_TABLE_NAME::text || '.event-' || TG_OP::text;
  if (TG_OP = 'DELETE') then
    row := row_to_json(old)::jsonb;
  else
    row := row_to_json(new)::jsonb;
  end if;
  if (TG_NARGS > 0) then
    channel := TG_ARGV[0];
  else
    channel := 'events';
  end if;
  -- Which columns to send: {"include": [...]} or {"exclude": [...]}.
  if (TG_NARGS = 2) then
    config := TG_ARGV[1];
    if (config ? 'include') then
      excluded_columns := array(
        select jsonb_object_keys(row)
        except
        select jsonb_array_elements_text(config->'include'));
    end if;
    if (config ? 'exclude') then
      excluded_columns := array(select jsonb_array_elements_text(config->'exclude'));
    end if;
    row := row - excluded_columns;
  end if;
  perform events.send_message(channel, row::text, routing_key, true);
  return null;
end;
$$ volatile language plpgsql;
