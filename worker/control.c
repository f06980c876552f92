/* control.c - the worker's subscriber connection: ids to cancel arrive on
 * P:cancel, "pause <queue>" / "resume <queue>" on P:control. A dropped
 * subscription can miss messages, so after every (re)subscribe the state is
 * re-read from the hashes and sets that the messages only announce. */
#include "supervisor_int.h"

#include "keys.h"
#include "log.h"
#include "util.h"

#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct slot *slot_by_id(struct supervisor *s, const char *id, size_t len)
{
    for (unsigned i = 0; i < s->n_slots; i++) {
        struct slot *slot = &s->slots[i];
        if (slot->state != SLOT_FREE && slot->id && strlen(slot->id) == len &&
            memcmp(slot->id, id, len) == 0)
            return slot;
    }
    return NULL;
}

static void cancel_job(struct supervisor *s, const char *id, size_t len)
{
    struct slot *slot = slot_by_id(s, id, len);
    if (!slot)
        return;
    log_info("job=%s cancel requested; stopping it", slot->id);
    slot->cancel_requested = true;
    slot_kill(slot, KILL_CANCELED);
}

static void set_paused(struct supervisor *s, const char *queue, size_t len,
                       bool paused)
{
    for (size_t i = 0; i < s->cfg->n_queues; i++) {
        const char *q = s->cfg->queues[i];
        if (strlen(q) != len || memcmp(q, queue, len) != 0 || s->paused[i] == paused)
            continue;
        s->paused[i] = paused;
        log_info("queue '%s' %s", q, paused ? "paused" : "resumed");
        if (paused)
            supervisor_unblock_fetch(s);
        else
            supervisor_kick(s);
    }
}

static void on_message(redisAsyncContext *ac, void *r, void *privdata)
{
    struct supervisor *s = privdata;
    redisReply *reply = r;
    if (!reply || s->freeing || reply->type != REDIS_REPLY_ARRAY ||
        reply->elements != 3 || reply->element[0]->type != REDIS_REPLY_STRING ||
        strcmp(reply->element[0]->str, "message") != 0 ||
        reply->element[2]->type != REDIS_REPLY_STRING)
        return;
    const char *chan = reply->element[1]->str;
    const redisReply *data = reply->element[2];
    if (strcmp(chan, s->cancel_channel) == 0) {
        cancel_job(s, data->str, data->len);
    } else if (data->len > 6 && strncmp(data->str, "pause ", 6) == 0) {
        set_paused(s, data->str + 6, data->len - 6, true);
    } else if (data->len > 7 && strncmp(data->str, "resume ", 7) == 0) {
        set_paused(s, data->str + 7, data->len - 7, false);
    }
}

static void on_paused_set(redisAsyncContext *ac, void *r, void *privdata)
{
    struct supervisor *s = privdata;
    redisReply *reply = r;
    if (!reply || s->freeing || reply->type != REDIS_REPLY_ARRAY)
        return;
    bool first = !s->paused_known;
    s->paused_known = true;
    for (size_t i = 0; i < s->cfg->n_queues; i++) {
        bool paused = false;
        for (size_t k = 0; k < reply->elements; k++)
            if (reply->element[k]->type == REDIS_REPLY_STRING &&
                strcmp(reply->element[k]->str, s->cfg->queues[i]) == 0)
                paused = true;
        set_paused(s, s->cfg->queues[i], strlen(s->cfg->queues[i]), paused);
    }
    if (first)
        supervisor_kick(s);
}

/* A cancel published while we were not subscribed is still on the hash. */
static void on_cancel_field(redisAsyncContext *ac, void *r, void *privdata)
{
    struct slot *slot = privdata;
    redisReply *reply = r;
    if (reply && reply->type == REDIS_REPLY_STRING && slot->state == SLOT_RUNNING)
        cancel_job(slot->sup, slot->id, strlen(slot->id));
}

void control_resync(struct supervisor *s)
{
    if (!redis_conn_is_up(s->cmd))
        return;
    const char *smembers[] = {"SMEMBERS", s->paused_key};
    (void)redis_conn_command(s->cmd, on_paused_set, s, 2, smembers, NULL);
    for (unsigned i = 0; i < s->n_slots; i++) {
        struct slot *slot = &s->slots[i];
        if (slot->state != SLOT_RUNNING)
            continue;
        const char *argv[] = {"HGET", slot->key, "cancel_requested"};
        (void)redis_conn_command(s->cmd, on_cancel_field, slot, 3, argv, NULL);
    }
}

static void on_sub_state(void *userdata, bool up)
{
    struct supervisor *s = userdata;
    if (!up || s->freeing)
        return;
    const char *argv[] = {"SUBSCRIBE", s->cancel_channel, s->control_channel};
    if (redis_conn_command(s->sub, on_message, s, 3, argv, NULL) < 0)
        log_error("cannot subscribe to '%s'", s->cancel_channel);
    control_resync(s);
}

int control_init(struct supervisor *s, const struct redis_url *url)
{
    char name[200];
    const char *p = s->cfg->prefix;
    s->paused_key = keys_make(p, "paused", NULL);
    s->cancel_channel = keys_make(p, "cancel", NULL);
    s->control_channel = keys_make(p, "control", NULL);
    if (!s->paused_key || !s->cancel_channel || !s->control_channel)
        return -ENOMEM;
    snprintf(name, sizeof(name), "sandq-worker:%s:sub", s->cfg->worker_id);
    s->sub = redis_conn_new(s->base, url, name, on_sub_state, s);
    return s->sub ? 0 : -ENOMEM;
}

void control_release(struct supervisor *s)
{
    redis_conn_free(s->sub);
    s->sub = NULL;
    free(s->paused_key);
    free(s->cancel_channel);
    free(s->control_channel);
}
