/*!
 * backbone-live: a Backbone.Collection (and a Backbone.Model) kept live over Bayeux with the faye client.
 *
 * Plain script (after underscore, backbone and faye's browser build): window.BackboneLive, and
 * Backbone.LiveCollection and Backbone.LiveModel. Backbone 1.0.0 to the current release.
 * CommonJS: require('backbone-live'). ES module: import { LiveCollection, LiveModel } from 'backbone-live'.
 * The live contract it follows is docs/live.md of the live project; its own manual is docs/backbone.md.
 */
(function (root, factory) {
  'use strict';
  if (typeof module === 'object' && module && module.exports) {
    // CommonJS (Node, bundlers). faye is only loaded when a collection is given an endpoint.
    module.exports = factory(require('backbone'), require('underscore'), function () {
      return require('faye');
    });
  } else {
    // Plain script: Backbone, _ and (for endpoints) Faye are globals loaded before this file. The class
    // is also Backbone.LiveCollection (and Backbone.LiveModel), the names apps written for Backbone's own
    // classes expect.
    root.BackboneLive = factory(root.Backbone, root._, function () {
      return root.Faye;
    });
    if (!root.Backbone.LiveCollection) root.Backbone.LiveCollection = root.BackboneLive.LiveCollection;
    if (!root.Backbone.LiveModel) root.Backbone.LiveModel = root.BackboneLive.LiveModel;
  }
})(typeof globalThis !== 'undefined' ? globalThis : this, function build(Backbone, _, loadFaye) {
  'use strict';

  if (!Backbone || !Backbone.Collection) {
    throw new Error('backbone-live needs Backbone: load backbone (and underscore) before backbone-live.js');
  }
  if (!_ || typeof _.extend !== 'function') {
    throw new Error('backbone-live needs underscore: load underscore before backbone-live.js');
  }

  var VERSION = '0.1.0';

  /** Settings a collection reads from its options (or its prototype's `liveOptions`), with their defaults. */
  var DEFAULTS = {
    listen: true,
    snapshot: true,
    holdTimeout: 10000,
    replayTimeout: 10000,
    retryDelay: 1000,
    maxRetryDelay: 30000,
    requestIdHeader: 'Live-Request-Id',
    channel: null,
    fayeOptions: null,
    disable: null,
    acks: true,
  };

  /** A LiveCollection's settings: the shared ones, and its filter. */
  var COLLECTION_DEFAULTS = _.extend({}, DEFAULTS, { where: null });

  var METHODS = { POST: true, PUT: true, PATCH: true, DELETE: true };

  /** Faye clients in use, each mapped to the channels a LiveCollection or LiveModel listens to on it. */
  var registry = typeof WeakMap === 'function' ? new WeakMap() : null;

  function noop() {}

  function liveError(message, details) {
    var error = new Error(message);
    error.name = 'LiveError';
    return _.extend(error, details);
  }

  /**
   * A failed REST load of a collection or model (`target`, load generation `gen`): Backbone's `error`, then
   * `live:error`, then a retry with back-off unless a newer load started meanwhile.
   */
  function loadFailed(target, gen, xhr, textStatus, errorThrown, options) {
    var L = target._live;
    target.trigger('error', target, xhr, options);
    target.trigger(
      'live:error',
      target,
      liveError('loading ' + L.channel + ' failed: ' + (errorThrown || textStatus || 'error'), { xhr: xhr }),
    );
    target._liveRetry(function () {
      if (gen === L.fetchGen) target._liveFetch();
    });
  }

  /** A rejected promise that does not count as unhandled when the caller ignores it. */
  function rejected(error) {
    var promise = Promise.reject(error);
    promise.catch(noop);
    return promise;
  }

  /** A promise with its settle functions; its rejection is always handled (callers may ignore it). */
  function deferred() {
    var d = { settled: false };
    d.promise = new Promise(function (resolve, reject) {
      d.resolve = function (value) {
        d.settled = true;
        resolve(value);
      };
      d.reject = function (error) {
        d.settled = true;
        reject(error);
      };
    });
    d.promise.catch(noop);
    return d;
  }

  var idCounter = 0;

  /** A request id unique enough to recognise this client's own writes among everyone's. */
  function newRequestId() {
    var c = typeof crypto !== 'undefined' ? crypto : null;
    if (c && typeof c.randomUUID === 'function') {
      try {
        return c.randomUUID();
      } catch (e) {
        // randomUUID needs a secure context in browsers; fall through
      }
    }
    if (c && typeof c.getRandomValues === 'function') {
      var bytes = new Uint8Array(16);
      c.getRandomValues(bytes);
      return Array.prototype.map
        .call(bytes, function (b) {
          return (b < 16 ? '0' : '') + b.toString(16);
        })
        .join('');
    }
    idCounter += 1;
    return Date.now().toString(36) + '-' + idCounter.toString(36) + '-' + Math.random().toString(36).slice(2);
  }

  /** The row version a write response carries in its ETag (`"3"`, `W/"3"`), or null. */
  function etagVersion(xhr) {
    if (!xhr || typeof xhr.getResponseHeader !== 'function') return null;
    var tag;
    try {
      tag = xhr.getResponseHeader('ETag');
    } catch (e) {
      return null;
    }
    var match = tag && /^(?:W\/)?"?(\d+)"?$/.exec(String(tag).trim());
    return match ? Number(match[1]) : null;
  }

  /** The Bayeux channel of a collection URL: its path, without origin, query or trailing slash. */
  function channelOf(url) {
    if (typeof url !== 'string' || !url) return null;
    var path = url
      .replace(/^[a-z][a-z0-9+.-]*:\/\/[^/]*/i, '')
      .replace(/^\/\/[^/]*/, '')
      .split(/[?#]/)[0]
      .replace(/\/+$/, '');
    // A collection follows one channel: no wildcard segments (the server refuses since/snapshot on them).
    return /^(\/[^/*]+)+$/.test(path) ? path : null;
  }

  /** The numeric code of a Bayeux error string (`403:/api/todos:Forbidden`), or null. */
  function bayeuxCode(error) {
    var match = /^(\d+):/.exec(String(error || ''));
    return match ? Number(match[1]) : null;
  }

  function isNumber(value) {
    return typeof value === 'number' && isFinite(value);
  }

  function checkEvent(data) {
    if (!data || typeof data !== 'object') return 'the event is not an object';
    if (!METHODS[data.method]) return 'unknown method ' + JSON.stringify(data.method);
    if (!data.body || typeof data.body !== 'object' || Array.isArray(data.body)) return 'the event has no body object';
    if (data.seq !== undefined && !isNumber(data.seq)) return 'seq is not a number';
    if (data.version !== undefined && data.version !== null && !isNumber(data.version)) {
      return 'version is not a number';
    }
    return null;
  }

  function checkSnapshot(snapshot) {
    return !!snapshot && typeof snapshot === 'object' && isNumber(snapshot.seq) && Array.isArray(snapshot.rows);
  }

  /** Most deleted rows remembered (their deleted version), so late events do not bring them back. */
  var TOMBSTONES = 10000;

  /**
   * The versions of rows deleted while listening, for events of theirs still on their way. Only
   * recent deletes matter (events of one session arrive in order), so the oldest are forgotten past
   * TOMBSTONES.
   */
  function Tombstones() {
    this.byId = typeof Map === 'function' ? new Map() : null;
  }
  Tombstones.prototype.get = function (id) {
    return this.byId ? this.byId.get(String(id)) : undefined;
  };
  Tombstones.prototype.bury = function (id, version) {
    if (!this.byId) return;
    var key = String(id);
    var old = this.byId.get(key);
    this.byId.delete(key);
    this.byId.set(key, old !== undefined && old > version ? old : version);
    if (this.byId.size > TOMBSTONES) this.byId.delete(this.byId.keys().next().value);
  };

  function bySeq(a, b) {
    return (isNumber(a.seq) ? a.seq : 0) - (isNumber(b.seq) ? b.seq : 0);
  }

  /**
   * Gives `model` a `sync` that routes its writes through its live collection (request id header,
   * own-write matching, stale-response guard). Models of any class work; the original sync still
   * does the request.
   */
  /**
   * A faye extension that acknowledges what the client received, in the wire format of CometD's ack
   * extension (docs/protocol.md §6.5 of the live project): the handshake asks for acks with
   * `ext.ack: true`; each /meta/connect then carries `ext.ack`, the batch number of the last connect reply
   * received. The server keeps the events sent since, and sends them again, marked `ext.resent`, when the
   * client comes back on a new connection, so an event in flight when the network went away is not lost.
   * Re-sent events may have arrived already: a LiveCollection drops them by `seq`; other subscribers
   * should do the same.
   *
   * One per faye client, added before its first subscribe:
   *
   *     var client = new Faye.Client('/live');
   *     client.addExtension(BackboneLive.ackExtension());
   *
   * A LiveCollection adds one to its faye client itself (unless `acks: false`).
   */
  function ackExtension() {
    var enabled = false;
    var batch = 0;
    return {
      outgoing: function (message, callback) {
        if (message.channel === '/meta/handshake') {
          message.ext = _.extend({}, message.ext, { ack: true });
          enabled = false;
          batch = 0;
        } else if (message.channel === '/meta/connect' && enabled) {
          message.ext = _.extend({}, message.ext, { ack: batch });
        }
        callback(message);
      },
      incoming: function (message, callback) {
        var ext = message.ext;
        if (message.channel === '/meta/handshake' && message.successful) {
          enabled = !!ext && (ext.ack === true || (!!ext.ack && ext.ack.enabled === true));
          if (enabled && ext.ack && isNumber(ext.ack.batch)) batch = ext.ack.batch;
        } else if (message.channel === '/meta/connect' && message.successful && enabled && ext && isNumber(ext.ack)) {
          batch = ext.ack;
        }
        callback(message);
      },
    };
  }

  /**
   * Sends at once the messages faye is waiting to retry (it waits `retry` seconds, 5 by default, after a
   * failure), for when the browser says it is back online: a page coming back from sleep catches up in a
   * round trip rather than after faye's next retry. Reaches into faye's dispatcher (faye 1.x); does nothing
   * on a client that does not look like one.
   */
  function retryNow(client) {
    var dispatcher = client && client._dispatcher;
    if (!dispatcher || !dispatcher._envelopes || typeof dispatcher._sendEnvelope !== 'function') return;
    dispatcher._envelopes.forEach(function (envelope) {
      if (!envelope.timer || envelope.request) return; // in flight, not waiting to retry
      clearTimeout(envelope.timer);
      envelope.timer = null;
      dispatcher._sendEnvelope(envelope);
    });
  }

  /** Faye clients that a LiveCollection or LiveModel gave an ack extension. */
  var acked = typeof WeakMap === 'function' ? new WeakMap() : null;

  /** Adds an ack extension to `client` unless this library already did. */
  function ensureAcks(client) {
    if (!acked || acked.has(client)) return;
    acked.set(client, true);
    client.addExtension(ackExtension());
  }

  function adopt(model) {
    if (!model || typeof model.sync !== 'function' || model.sync.backboneLive) return;
    var original = model.sync;
    var sync = function (method, target, options) {
      var collection = this.collection;
      if (collection && typeof collection._liveWrite === 'function') {
        return collection._liveWrite(original, this, method, target, options);
      }
      return original.apply(this, arguments);
    };
    sync.backboneLive = true;
    model.sync = sync;
  }

  var CollectionProto = Backbone.Collection.prototype;
  var ModelProto = Backbone.Model.prototype;

  /**
   * Backbone before 1.2 (1.0 and 1.1 are still in apps) parses a save's or fetch's response even when
   * options.parse is false, and has no Collection#modelId.
   */
  var BACKBONE_BEFORE_1_2 = (function () {
    var parts = String(Backbone.VERSION || '').split('.');
    var major = Number(parts[0]);
    var minor = Number(parts[1]);
    return major < 1 || (major === 1 && minor < 2);
  })();

  /** The id in `attrs` for a model of `collection`: its modelId (Backbone 1.2+), else the model's idAttribute. */
  function modelIdOf(collection, attrs) {
    if (typeof collection.modelId === 'function') return collection.modelId(attrs);
    var Model = collection.model;
    return attrs[(Model && Model.prototype && Model.prototype.idAttribute) || 'id'];
  }

  /**
   * Makes the next `model.parse` hand its input back unchanged, for Backbone before 1.2, which ignores
   * options.parse = false on a write's response. Returns a function that undoes it if it was not used.
   */
  function skipParseOnce(model) {
    if (!BACKBONE_BEFORE_1_2 || model.parse === ModelProto.parse) return noop; // Backbone's own parse is the identity
    var hadOwn = Object.prototype.hasOwnProperty.call(model, 'parse');
    var own = model.parse;
    var restore = function () {
      if (hadOwn) model.parse = own;
      else delete model.parse;
    };
    model.parse = function (resp) {
      restore();
      return resp;
    };
    return restore;
  }

  /** The Bayeux endpoint of the page this runs in (`/live` on its origin), or null outside a page (Node). */
  function pageEndpoint() {
    var loc = typeof location !== 'undefined' ? location : null;
    if (!loc || typeof loc.protocol !== 'string' || !/^https?:$/.test(loc.protocol)) return null;
    return (loc.origin && loc.origin !== 'null' ? loc.origin : loc.protocol + '//' + loc.host) + '/live';
  }


  /**
   * The query string of a `where` option: a string in the REST list's filter syntax
   * (`completed=eq.false&title=like.*milk*`, a leading `?` dropped) is sent as it is; an object maps each
   * field to an `op.value` string (or an array of them, for several conditions on one field), each name
   * and value encoded with encodeURIComponent. Null, undefined, '' and {} mean no filter (null).
   */
  function whereQuery(where) {
    if (where === null || where === undefined) return null;
    if (typeof where === 'string') return where.replace(/^\?/, '') || null;
    if (typeof where === 'object' && !Array.isArray(where)) {
      var parts = [];
      _.each(where, function (value, field) {
        _.each(Array.isArray(value) ? value : [value], function (condition) {
          if (condition === null || condition === undefined || typeof condition === 'object') {
            throw new Error('LiveCollection: where.' + field + ' must be an "op.value" string, such as "eq.false"');
          }
          parts.push(encodeURIComponent(field) + '=' + encodeURIComponent(String(condition)));
        });
      });
      return parts.join('&') || null;
    }
    throw new Error('LiveCollection: where must be a filter query string or an object of field → "op.value"');
  }

  /**
   * The live state a LiveCollection or LiveModel keeps in `_live`: its subscription, the load and resume
   * in progress, the last seq applied, its own writes in flight, and the handlers faye calls.
   */
  function liveState(self, settings) {
    var state = {
      settings: settings,
      listening: false,
      closed: false,
      loaded: false,
      ownClient: false,
      channel: null,
      subscription: null,
      subscribeGen: 0,
      sentGen: -1,
      expectOwn: false,
      requests: {},
      want: null,
      loading: false,
      buffer: [],
      held: [],
      heldMax: null,
      holdTimer: null,
      resume: null,
      seq: null,
      pending: {},
      cycle: null,
      retryTimer: null,
      retryDelay: settings.retryDelay,
      fetchGen: 0,
      down: false,
      ready: deferred(),
    };
    state.onMessage = function (data) {
      self._liveMessage(data);
    };
    state.onDown = function () {
      state.down = true;
      self.trigger('live:down', self);
    };
    state.onUp = function () {
      var wasDown = state.down;
      state.down = false;
      if (wasDown) self._liveResumeAfterOutage();
      self.trigger('live:up', self);
    };
    state.onOnline = function () {
      // Now, and again as the attempts that were stuck while offline fail and fall into faye's retry
      // wait (a WebSocket being opened or closed when the network went away completes only now).
      retryNow(self.faye);
      _.each([100, 500, 1500], function (ms) {
        setTimeout(function () {
          if (state.listening) retryNow(self.faye);
        }, ms);
      });
    };
    state.extension = {
      outgoing: function (message, callback) {
        self._liveOutgoing(message);
        callback(message);
      },
      incoming: function (message, callback) {
        self._liveIncoming(message);
        callback(message);
      },
    };
    return state;
  }

  /**
   * Gives `self` its faye client (`self.faye`): options.faye, a `faye` on the prototype, `fallback()` (a
   * LiveModel's collection's client), or a new client on options.endpoint or the page's /live (then
   * closed with `self`). Adds the ack extension unless `acks: false`.
   */
  function attachFaye(self, opts, fallback) {
    var L = self._live;
    var settings = L.settings;
    var name = self._liveName;
    var client = opts.faye || self.faye || (fallback ? fallback() : null);
    if (!client) {
      // In a page, the live server is the page's own: /live on its origin.
      var endpoint = opts.endpoint || pageEndpoint();
      if (!endpoint) {
        throw new Error(
          name +
            ' needs a faye client (options.faye) or a Bayeux endpoint URL (options.endpoint): ' +
            'there is no web page here whose /live it could use',
        );
      }
      var Faye = opts.Faye || loadFaye();
      if (!Faye || typeof Faye.Client !== 'function') {
        throw new Error(name + ': faye is not loaded (load faye before backbone-live.js, or pass options.Faye)');
      }
      client = new Faye.Client(endpoint, settings.fayeOptions || {});
      L.ownClient = true;
      _.each(settings.disable || [], function (feature) {
        client.disable(feature);
      });
    }
    if (typeof client.subscribe !== 'function' || typeof client.addExtension !== 'function') {
      throw new Error(name + ': options.faye is not a faye client');
    }
    /** The faye client this collection or model listens with. */
    self.faye = client;
    if (settings.acks) ensureAcks(client);
  }

  /**
   * What LiveCollection and LiveModel share: listening on one channel with a faye client, loading with a
   * snapshot (or over REST) with events buffered meanwhile, resuming with `since`, retrying, and applying
   * events in seq order, each once. Each class adds its hooks:
   *
   * - `_liveName`, `_liveNoChannel`: its name and what to say when it has no channel;
   * - `_liveChannel()`: the channel to follow, or null;
   * - `_liveExt()`: what to add to each subscribe's `ext` (besides since/snapshot), or null;
   * - `_liveFetch()`: a REST load, ending in `_liveLoaded`;
   * - `_liveApplySnapshot(snapshot)`: a snapshot reply's load, ending in `_liveLoaded`;
   * - `_liveApply(data)`: one change event;
   * - `_liveShouldHold(data)`: whether an event waits for a create of ours (collections).
   */
  var LiveSync = {
    /**
     * Subscribes (if not already) and resolves when loaded (first listen) or resumed (later listens).
     * Rejects if the server refuses the subscription.
     */
    listen: function () {
      var L = this._live;
      if (L.closed) return rejected(liveError('this ' + this._liveName + ' is closed'));
      if (L.listening) return L.cycle.promise;
      var channel = this._liveChannel();
      if (!channel) return this._liveFatal(liveError(this._liveName + ': no channel: ' + this._liveNoChannel));
      var channels = registry && registry.get(this.faye);
      if (channels && channels[channel] && channels[channel] !== this) {
        return this._liveFatal(
          liveError(
            this._liveName +
              ': another ' +
              channels[channel]._liveName +
              ' already listens to ' +
              channel +
              ' on this faye client; give each its own client or endpoint',
          ),
        );
      }
      if (registry) {
        if (!channels) registry.set(this.faye, (channels = {}));
        channels[channel] = this;
      }
      /** The Bayeux channel this collection or model follows. */
      this.channel = L.channel = channel;
      L.listening = true;
      L.cycle = deferred();
      this.faye.addExtension(L.extension);
      if (typeof this.faye.bind === 'function') {
        this.faye.bind('transport:down', L.onDown);
        this.faye.bind('transport:up', L.onUp);
      }
      if (typeof window !== 'undefined' && window && typeof window.addEventListener === 'function') {
        window.addEventListener('online', L.onOnline);
      }
      if (L.seq === null) {
        // Nothing loaded yet (or the last load left no position): load, buffering events meanwhile.
        L.loading = true;
        L.buffer = [];
        L.want = L.settings.snapshot ? 'snapshot' : null;
      }
      this._liveSubscribe();
      return L.cycle.promise;
    },

    /**
     * Cancels the subscription and removes the faye extension; the models stay. A later listen()
     * resumes from the last seq applied.
     */
    unlisten: function () {
      var L = this._live;
      if (!L.listening) return this;
      L.listening = false;
      clearTimeout(L.retryTimer);
      clearTimeout(L.holdTimer);
      L.retryTimer = L.holdTimer = null;
      if (L.subscription) {
        var subscription = L.subscription;
        L.subscription = null;
        subscription.cancel();
      }
      this.faye.removeExtension(L.extension);
      if (typeof this.faye.unbind === 'function') {
        this.faye.unbind('transport:down', L.onDown);
        this.faye.unbind('transport:up', L.onUp);
      }
      if (typeof window !== 'undefined' && window && typeof window.removeEventListener === 'function') {
        window.removeEventListener('online', L.onOnline);
      }
      var channels = registry && registry.get(this.faye);
      if (channels && channels[L.channel] === this) delete channels[L.channel];
      L.requests = {};
      L.loading = false;
      L.want = null;
      L.buffer = [];
      this._liveResumeEnd();
      // Held events were received but not applied: the next listen's `since` asks for them again.
      L.held = [];
      L.heldMax = null;
      L.fetchGen += 1;
      if (L.cycle && !L.cycle.settled) {
        L.cycle.reject(liveError('unlistened before the ' + this._liveName + ' was loaded'));
      }
      return this;
    },

    /**
     * Ends the live life: unlisten(), Backbone's stopListening(), and the faye client disconnected if
     * this collection or model made it. Resolves when that disconnect is done (bounded).
     */
    close: function () {
      var L = this._live;
      if (L.closed) return L.closing;
      this.unlisten();
      L.closed = true;
      if (!L.ready.settled) L.ready.reject(liveError('closed before the ' + this._liveName + ' was loaded'));
      this.stopListening();
      L.closing = L.ownClient ? shutdown(this.faye) : Promise.resolve();
      return L.closing;
    },

    /** Whether it is subscribed (or subscribing). */
    isListening: function () {
      return this._live.listening;
    },

    /** The highest event seq applied (or the seq of the last snapshot), or null before any. */
    lastSeq: function () {
      return this._live.seq;
    },

    _liveExt: function () {
      return null;
    },

    _liveShouldHold: function () {
      return false;
    },

    /** Reports an error that ends the listen: live:error, the cycle and (first time) ready rejected. */
    _liveFatal: function (error) {
      var L = this._live;
      if (L.cycle && !L.cycle.settled) L.cycle.reject(error);
      if (!L.ready.settled) L.ready.reject(error);
      if (L.listening) this.unlisten();
      this.trigger('live:error', this, error);
      return rejected(error); // reported by live:error and ready too
    },

    /** (Re)creates the faye subscription for the channel; the extension adds since or snapshot. */
    _liveSubscribe: function () {
      var L = this._live;
      var self = this;
      clearTimeout(L.retryTimer);
      L.retryTimer = null;
      if (L.subscription) {
        var old = L.subscription;
        L.subscription = null;
        old.cancel();
      }
      L.subscribeGen += 1;
      var gen = L.subscribeGen;
      // The next /meta/subscribe for the channel is this one: faye registers a channel only as it sends
      // its subscribe, so a handshake's re-subscribes cannot name it before then.
      L.expectOwn = true;
      var subscription = (L.subscription = this.faye.subscribe(L.channel, L.onMessage));
      subscription.then(
        function () {
          if (L.subscription !== subscription || !L.listening) return;
          // Faye sends no /meta/subscribe when the channel is already subscribed on this client
          // (by other code): there is then no snapshot or resume reply, so load over REST.
          if (L.sentGen < gen && L.loading) self._liveFetch();
        },
        noop, // failures are answered in the extension, which sees the reply with its error
      );
    },

    /**
     * faye reported its transport down and then up again: whatever the server did meanwhile, ask for
     * everything after the last seq applied (defence in depth behind the acks and the server ending a
     * session that may have lost events). One /meta/subscribe with `since` on the channel faye already
     * has; a replay of nothing costs that one round trip. Skipped while loading or resuming, and when faye
     * is about to handshake again, which re-subscribes with `since` anyway.
     */
    _liveResumeAfterOutage: function () {
      var L = this._live;
      if (!L.listening || L.loading || L.seq === null || L.resume) return;
      var client = this.faye;
      if (client.UNCONNECTED !== undefined && client._state === client.UNCONNECTED) return;
      var pending = _.some(L.requests, function (request) {
        return request.kind !== 'plain';
      });
      if (pending) return;
      // `true` in place of a callback is faye's own re-subscribe: a /meta/subscribe for a channel it has.
      client.subscribe(L.channel, true);
    },

    _liveOutgoing: function (message) {
      var L = this._live;
      if (!L.listening || message.channel !== '/meta/subscribe' || message.subscription !== L.channel) return;
      var ext = _.extend({}, this._liveExt());
      var request = { kind: 'plain' };
      if (L.want === 'snapshot') {
        ext.snapshot = true;
        request.kind = 'snapshot';
      } else if (L.seq !== null) {
        ext.since = L.seq;
        request = { kind: 'since', since: L.seq };
        // Deliveries wait until the replay is complete (see _liveResumeCheck). Nothing is applied
        // meanwhile, so a window still open (a second re-subscribe) keeps its `since` and its events.
        if (!L.resume) {
          L.resume = { since: L.seq, buffer: [], target: null, timer: null };
        } else {
          clearTimeout(L.resume.timer);
          L.resume.timer = null;
          L.resume.target = null;
        }
      }
      message.ext = _.extend({}, message.ext, ext);
      request.own = L.expectOwn;
      L.expectOwn = false;
      L.requests[message.id] = request;
      L.sentGen = L.subscribeGen;
    },

    _liveIncoming: function (message) {
      var L = this._live;
      if (message.channel !== '/meta/subscribe' || !L.listening) return;
      var request = L.requests[message.id];
      if (!request) return;
      delete L.requests[message.id];
      try {
        this._liveReply(message, request);
      } catch (error) {
        this.trigger('live:error', this, error);
      }
    },

    _liveReply: function (message, request) {
      var L = this._live;
      var ext = message.ext || {};
      if (!message.successful) {
        this._liveSubscribeFailed(message, request);
        return;
      }
      L.retryDelay = L.settings.retryDelay;
      if (request.kind === 'snapshot') {
        if (checkSnapshot(ext.snapshot)) this._liveApplySnapshot(ext.snapshot);
        else this._liveFetch(); // a server that does not answer snapshots
      } else if (request.kind === 'since') {
        if (ext.reset === true) {
          this._liveReload();
        } else if (isNumber(ext.seq) && L.resume) {
          L.resume.target = {
            since: request.since,
            seq: ext.seq,
            replayed: isNumber(ext.replayed) ? ext.replayed : null,
          };
          this._liveResumeCheck();
        } else {
          this._liveReload(); // a server that does not answer `since`
        }
      } else if (L.loading) {
        this._liveFetch();
      } else {
        this._liveReload();
      }
    },

    _liveSubscribeFailed: function (message, request) {
      var L = this._live;
      this._liveResumeEnd(); // the next subscribe replays from the same seq
      var code = bayeuxCode(message.error);
      var error = liveError('subscribe to ' + L.channel + ' failed: ' + (message.error || 'no reason given'), {
        code: code,
        bayeuxError: message.error,
      });
      if (code === 401 || code === 402) {
        // Unknown or expired client: faye handshakes again by itself. It then re-subscribes the
        // channels it still has, but it forgets a subscribe of its own that failed, so that one is
        // made again here (it waits for the new handshake).
        this.trigger('live:error', this, error);
        if (request.own) this._liveSubscribe();
        return;
      }
      if (code === null || code === 409 || code >= 500) {
        // Transient (the database could not be read, a concurrent catch-up): try again later.
        this.trigger('live:error', this, error);
        this._liveRetry(this._liveSubscribe);
        return;
      }
      this._liveFatal(error);
    },

    _liveRetry: function (action) {
      var L = this._live;
      var self = this;
      clearTimeout(L.retryTimer);
      var wait = L.retryDelay;
      L.retryDelay = Math.min(L.retryDelay * 2, L.settings.maxRetryDelay);
      L.retryTimer = setTimeout(function () {
        L.retryTimer = null;
        if (L.listening) action.call(self);
      }, wait);
    },

    /** The server cannot resume: load again (a snapshot, or a REST fetch), buffering events. */
    _liveReload: function () {
      var L = this._live;
      this._liveResumeEnd();
      L.seq = null;
      L.held = [];
      L.heldMax = null;
      clearTimeout(L.holdTimer);
      L.holdTimer = null;
      L.loading = true;
      L.buffer = [];
      if (L.settings.snapshot) {
        L.want = 'snapshot';
        this._liveSubscribe();
      } else {
        this._liveFetch();
      }
    },

    /**
     * A load is in (its rows applied): applies the events buffered meanwhile, in seq order, and settles
     * the listen (and, the first time, `ready` with `live:ready`).
     */
    _liveLoaded: function (info) {
      var L = this._live;
      var self = this;
      L.loading = false;
      var buffered = L.buffer.sort(bySeq);
      L.buffer = [];
      _.each(buffered, function (data) {
        if (L.listening) self._liveReceive(data);
      });
      if (!L.listening) return; // an event ended the listen (a LiveModel's record deleted)
      if (L.cycle && !L.cycle.settled) L.cycle.resolve(this);
      if (!L.loaded) {
        L.loaded = true;
        L.ready.resolve(this);
        this.trigger('live:ready', this, info);
      }
    },

    /** A delivery on the channel. */
    _liveMessage: function (data) {
      var L = this._live;
      if (!L.listening) return;
      var problem = checkEvent(data);
      if (problem) {
        this.trigger('live:error', this, liveError('ignored an event on ' + L.channel + ': ' + problem, { event: data }));
        return;
      }
      if (L.loading) {
        L.buffer.push(data);
        return;
      }
      if (L.resume) {
        L.resume.buffer.push(data);
        this._liveResumeCheck();
        return;
      }
      try {
        this._liveReceive(data);
      } catch (error) {
        this.trigger('live:error', this, error);
      }
    },

    /**
     * A resume is complete once every replayed event is in: the reply says the replay covers the seqs
     * after `since` up to `seq`, `replayed` of them. Until then deliveries wait, because some may come
     * late from the subscription this one replaced (queued before its unsubscribe, or from the session
     * before a re-handshake): those are replayed too, and applied alone, a newer one would make the
     * seq rule drop the older replayed events still on their way.
     */
    _liveResumeCheck: function () {
      var L = this._live;
      var self = this;
      var resume = L.resume;
      if (!resume || !resume.target) return;
      var target = resume.target;
      if (target.replayed !== null) {
        var seqs = {};
        var count = 0;
        _.each(resume.buffer, function (data) {
          if (isNumber(data.seq) && data.seq > target.since && data.seq <= target.seq && !seqs[data.seq]) {
            seqs[data.seq] = true;
            count += 1;
          }
        });
        if (count < target.replayed) {
          if (!resume.timer) {
            resume.timer = setTimeout(function () {
              if (L.resume !== resume) return;
              self.trigger(
                'live:error',
                self,
                liveError('the replay of ' + L.channel + ' after seq ' + target.since + ' did not complete: reloading'),
              );
              self._liveReload();
            }, L.settings.replayTimeout);
          }
          return;
        }
      }
      this._liveResumeEnd();
      _.each(resume.buffer.sort(bySeq), function (data) {
        if (!L.listening) return; // an event ended the listen (a LiveModel's record deleted)
        try {
          self._liveReceive(data);
        } catch (error) {
          self.trigger('live:error', self, error);
        }
      });
      if (!L.listening) return;
      if (L.cycle && !L.cycle.settled) L.cycle.resolve(this);
      this.trigger('live:resumed', this, { since: target.since, seq: target.seq, replayed: target.replayed });
    },

    /** Closes the resume window, if any, dropping what it kept. */
    _liveResumeEnd: function () {
      var L = this._live;
      if (!L.resume) return;
      clearTimeout(L.resume.timer);
      L.resume = null;
    },

    /** Drops what was seen already; holds what the pending-POST rule says to; applies the rest. */
    _liveReceive: function (data) {
      var L = this._live;
      if (isNumber(data.seq)) {
        var floor = L.heldMax !== null ? L.heldMax : L.seq;
        if (floor !== null && data.seq <= floor) {
          this.trigger('live:ignored', this, data, 'seen');
          return;
        }
      }
      if (L.held.length || this._liveShouldHold(data)) {
        L.held.push(data);
        if (isNumber(data.seq)) L.heldMax = data.seq;
        this._liveArmHold();
        return;
      }
      this._liveApply(data);
    },

    _liveArmHold: function () {
      var L = this._live;
      var self = this;
      if (L.holdTimer) return;
      L.holdTimer = setTimeout(function () {
        L.holdTimer = null;
        self._liveRelease(true);
      }, L.settings.holdTimeout);
    },

    /** Applies held events in order, up to the first that must still wait (all of them if `force`). */
    _liveRelease: function (force) {
      var L = this._live;
      clearTimeout(L.holdTimer);
      L.holdTimer = null;
      while (L.held.length) {
        if (!force && this._liveShouldHold(L.held[0])) break;
        var data = L.held.shift();
        try {
          this._liveApply(data);
        } catch (error) {
          this.trigger('live:error', this, error);
        }
      }
      if (L.held.length) this._liveArmHold();
      else L.heldMax = null;
    },
  };

  /**
   * A Backbone.Collection whose contents follow the server's table live: it subscribes to the
   * channel named after its `url`, loads with a snapshot, applies every change event, and resumes
   * after reconnects. With `where`, it follows the rows that match a filter. See docs/backbone.md.
   */
  var LiveCollection = Backbone.Collection.extend(
    _.extend({}, LiveSync, {
      _liveName: 'LiveCollection',
      _liveNoChannel: 'set url (a path such as /api/todos) or options.channel',

      constructor: function LiveCollection(models, options) {
        var opts = options || {};
        if (opts.url !== undefined) this.url = opts.url;
        var settings = _.extend(
          {},
          COLLECTION_DEFAULTS,
          _.result(this, 'liveOptions'),
          _.pick(opts, _.keys(COLLECTION_DEFAULTS)),
        );
        whereQuery(settings.where); // a malformed where throws here, not on the first subscribe
        var state = (this._live = _.extend(liveState(this, settings), {
          versions: {},
          tombstones: new Tombstones(),
          lastSeqById: {},
          creates: 0,
        }));
        /** Settles on the first complete load (snapshot or fetch), or with the error of a failed first listen. */
        this.ready = state.ready.promise;

        Backbone.Collection.apply(this, arguments);

        attachFaye(this, opts, null);
        if (settings.listen) this.listen();
      },

      /**
       * The filter this collection follows, as a query string (`completed=eq.false`), or null. (Not
       * `where`: that is Backbone's own Collection#where.)
       */
      getWhere: function () {
        return whereQuery(this._live.settings.where);
      },

      /**
       * Follows another filter (`where` as in the options; null for every row): while listening, ends the
       * subscription and loads anew (a `reset` to the rows that match), resolving when that load is in.
       */
      setWhere: function (where) {
        var L = this._live;
        whereQuery(where);
        if (L.closed) return rejected(liveError('this LiveCollection is closed'));
        L.settings = _.extend({}, L.settings, { where: where });
        var listening = L.listening;
        if (listening) this.unlisten();
        L.seq = null; // the rows of the old filter say nothing of the new one's: load, do not resume
        return listening ? this.listen() : Promise.resolve(this);
      },

      _liveChannel: function () {
        return this._live.settings.channel || channelOf(_.result(this, 'url'));
      },

      _liveExt: function () {
        var where = whereQuery(this._live.settings.where);
        return where ? { where: where } : null;
      },

      /**
       * While listening, the collection is loaded and kept current by its subscription, so fetch()
       * does not go to the server: it resolves (and calls `success`, triggers `sync`) once the live
       * load is complete. With `{reset: true}` it also triggers `reset` when the load was in before the
       * call (the app listening for it came too late for the load's own). `fetch({live: false})`, or
       * fetch() while not listening, is Backbone's (with the `where` filter as its query, unless the
       * call gives its own `data`).
       */
      fetch: function (options) {
        var L = this._live;
        if (!L.listening || (options && options.live === false)) {
          var where = whereQuery(L.settings.where);
          if (where && (!options || options.data === undefined)) options = _.extend({}, options, { data: where });
          return CollectionProto.fetch.call(this, options);
        }
        options = _.extend({ parse: true }, options);
        var self = this;
        var resetDue = !!options.reset && !L.loading;
        var loaded = L.cycle.promise.then(
          function () {
            if (resetDue) self.reset(self.models.slice(), _.extend({}, options, { parse: false }));
            var resp = self.toJSON();
            if (options.success) options.success.call(options.context, self, resp, options);
            self.trigger('sync', self, resp, options);
            return resp;
          },
          function (error) {
            if (options.error) options.error.call(options.context, self, error, options);
            throw error;
          },
        );
        loaded.catch(noop); // like a failed jqXHR, an ignored failure is not an unhandled rejection
        return loaded;
      },

      _prepareModel: function () {
        var model = CollectionProto._prepareModel.apply(this, arguments);
        if (model) adopt(model);
        return model;
      },

      /** Loads over REST (GET on the url, with the `where` filter as its query), buffering events meanwhile. */
      _liveFetch: function () {
        var L = this._live;
        var self = this;
        L.loading = true;
        L.want = null;
        L.seq = null;
        L.held = [];
        L.heldMax = null;
        L.fetchGen += 1;
        var gen = L.fetchGen;
        var options = { parse: true, live: { source: 'fetch' } };
        var where = whereQuery(L.settings.where);
        if (where) options.data = where;
        options.success = function (resp) {
          if (gen !== L.fetchGen || !L.listening) return;
          L.retryDelay = L.settings.retryDelay;
          self._liveReplace(resp, { source: 'fetch', seq: null });
          self.trigger('sync', self, resp, options);
        };
        options.error = function (xhr, textStatus, errorThrown) {
          if (gen !== L.fetchGen || !L.listening) return;
          loadFailed(self, gen, xhr, textStatus, errorThrown, options);
        };
        try {
          this.sync('read', this, options);
        } catch (error) {
          options.error(null, 'error', error && error.message);
        }
      },

      _liveApplySnapshot: function (snapshot) {
        var L = this._live;
        L.want = null;
        L.seq = snapshot.seq;
        this._liveReplace(snapshot.rows, { source: 'snapshot', seq: snapshot.seq });
      },

      /**
       * Replaces the models with `rows` (parsed like a fetch response) in one `reset`, keeping unsaved
       * models, then applies the events buffered meanwhile, in seq order.
       */
      _liveReplace: function (rows, info) {
        var L = this._live;
        var self = this;
        L.versions = {};
        L.tombstones = new Tombstones();
        L.lastSeqById = {};
        L.held = [];
        L.heldMax = null;
        clearTimeout(L.holdTimer);
        L.holdTimer = null;
        var keep = this.filter(function (model) {
          return model.isNew();
        });
        var models = [];
        _.each(this.parse(rows, { live: info }) || [], function (attrs) {
          var model = self._prepareModel(attrs, { parse: true, live: info });
          if (model) models.push(model);
        });
        this.reset(models.concat(keep), { live: info });
        this.trigger('live:reset', this, info);
        this._liveLoaded(info);
      },

      /**
       * The seed's pending-POST rule, for creates the server does not tag with our request id: while a
       * create of ours is in flight, a POST for a row we do not have may be ours, so it waits for the
       * response, which tells by id.
       */
      _liveShouldHold: function (data) {
        return (
          data.method === 'POST' &&
          typeof data.origin !== 'string' &&
          this._live.creates > 0 &&
          !this.get(modelIdOf(this, data.body))
        );
      },

      /**
       * Applies one change event to the models, unless it is older than what they hold. With a `where`
       * filter, a row that starts matching comes as a POST (`enter`) and is added; one that stops
       * matching comes as a DELETE (`leave`) and leaves as a deleted row does: the server marks a real
       * delete `leave` too, so the two cannot be told apart, and need not be.
       */
      _liveApply: function (data) {
        var L = this._live;
        if (isNumber(data.seq)) L.seq = data.seq;
        var body = data.body;
        var id = modelIdOf(this, body);
        if (id === undefined || id === null) {
          this.trigger('live:error', this, liveError('ignored an event without an id on ' + L.channel, { event: data }));
          return;
        }
        var own = typeof data.origin === 'string' ? L.pending[data.origin] : undefined;
        if (own) own.ownSeq = data.seq;
        var version = isNumber(data.version) ? data.version : null;
        var known = L.versions[id] !== undefined ? L.versions[id] : null;
        var options = { live: data };
        var existing = this.get(id);

        if (data.method === 'DELETE') {
          if (version !== null) L.tombstones.bury(id, version);
          delete L.versions[id];
          delete L.lastSeqById[id];
          if (!existing) return this.trigger('live:ignored', this, data, 'absent');
          if (version !== null && known !== null && version < known) {
            return this.trigger('live:ignored', this, data, 'stale');
          }
          // Our own destroy() triggers `destroy` itself (at once, or on its response with {wait: true}):
          // its echo only takes the model out. A server without origins: a destroy of ours in flight.
          var ours = own ? own.method === 'delete' : typeof data.origin !== 'string' && this._livePendingDelete(id);
          if (ours) this.remove(existing, options);
          else this._liveDestroy(existing, options);
          return this.trigger('live:applied', this, data);
        }

        var target = existing;
        if (!existing && own && own.method === 'create' && own.model) target = own.model;
        if (existing && version !== null && known !== null && version <= known) {
          return this.trigger('live:ignored', this, data, 'stale');
        }
        var tomb = L.tombstones.get(id);
        if (!target && version !== null && tomb !== undefined && version <= tomb) {
          return this.trigger('live:ignored', this, data, 'deleted');
        }
        if (version !== null) L.versions[id] = version;
        L.lastSeqById[id] = data.seq;
        if (target) {
          target.set(target.parse(body, options), options);
          if (!this.get(target)) {
            this.add(target, options); // our own create, saved with {wait: true}
          } else if (this.comparator) {
            var sortAttr = _.isString(this.comparator) ? this.comparator : null;
            if (target.hasChanged(sortAttr)) this.sort(options);
          }
        } else {
          var model = this._prepareModel(body, _.extend({ parse: true }, options));
          if (model) this.add(model, options);
        }
        return this.trigger('live:applied', this, data);
      },

      /**
       * Every sync of a model of this collection goes through here: writes carry a fresh request id
       * (matched against events' `origin`), and a response older than what events already brought
       * does not overwrite it.
       */
      _liveWrite: function (original, context, method, model, options) {
        var L = this._live;
        var self = this;
        options = options || {};
        var entry = { method: method, model: model, ownSeq: null, rid: null, restoreParse: null };
        if (method !== 'read') {
          entry.rid = newRequestId();
          var header = {};
          header[L.settings.requestIdHeader] = entry.rid;
          options.headers = _.extend({}, options.headers, header);
          L.pending[entry.rid] = entry;
          if (method === 'create') L.creates += 1;
        }
        var done = false;
        var settle = function () {
          if (done) return;
          done = true;
          if (entry.rid) delete L.pending[entry.rid];
          if (method === 'create') L.creates -= 1;
        };
        var success = options.success;
        var error = options.error;
        options.success = function (resp, textStatus, xhr) {
          var args = _.toArray(arguments);
          try {
            args[0] = self._liveResponse(entry, options, resp, xhr);
          } catch (e) {
            self.trigger('live:error', self, e);
          }
          settle();
          var result;
          try {
            result = success ? success.apply(this, args) : undefined;
          } finally {
            if (entry.restoreParse) entry.restoreParse();
          }
          self._liveAfterResponse(entry, resp, xhr);
          return result;
        };
        options.error = function () {
          settle();
          var result = error ? error.apply(this, arguments) : undefined;
          if (method === 'create') self._liveRelease(false);
          return result;
        };
        try {
          return original.call(context, method, model, options);
        } catch (e) {
          settle();
          if (method === 'create') this._liveRelease(false);
          throw e;
        }
      },

      /** Before Backbone sets a write's response on the model: drop duplicates, keep newer state. */
      _liveResponse: function (entry, options, resp, xhr) {
        var L = this._live;
        var model = entry.model;
        var id = resp && typeof resp === 'object' && model.idAttribute in resp ? resp[model.idAttribute] : model.id;
        if (id === undefined || id === null) return resp;
        var version = etagVersion(xhr);
        if (entry.method === 'delete') {
          // Events of this row that are still on their way (its create, its updates) must not bring it
          // back. The DELETE answers with the version deleted; a server without ETags: every version.
          L.tombstones.bury(id, version !== null ? version : Infinity);
          return resp;
        }
        var holder = this.get(id);
        if (entry.method === 'create' && holder && holder !== model) {
          // A copy of this row was added from an event we could not match to this write (the hold
          // timed out): the model the app saved takes its place.
          this.remove(holder, { live: { duplicateOf: model } });
        }
        var known = L.versions[id] !== undefined ? L.versions[id] : null;
        var newerEvent = entry.ownSeq !== null && L.lastSeqById[id] !== undefined && L.lastSeqById[id] > entry.ownSeq;
        var stale = (version !== null && known !== null && version < known) || newerEvent;
        var current = holder || (model.id === id ? model : null);
        if (stale && current) {
          // Events already brought a newer version of this row: answer Backbone with it, unchanged.
          options.parse = false;
          entry.restoreParse = skipParseOnce(model);
          return _.clone(current.attributes);
        }
        if (version !== null && (known === null || version > known)) L.versions[id] = version;
        return resp;
      },

      /**
       * A row deleted elsewhere leaves as with a local destroy(): `destroy` on the model, with Backbone's
       * arguments, so views listening to their model remove themselves and collections holding it drop it.
       */
      _liveDestroy: function (model, options) {
        model.trigger('destroy', model, model.collection, options);
        if (this.get(model) === model) this.remove(model, options); // a subclass that ignores `destroy`
      },

      /** Whether a destroy() of ours for the row `id` is waiting for its response. */
      _livePendingDelete: function (id) {
        return _.some(_.values(this._live.pending), function (entry) {
          return entry.method === 'delete' && entry.model && String(entry.model.id) === String(id);
        });
      },

      /** After Backbone handled a write's response: a row deleted meanwhile goes; held events go on. */
      _liveAfterResponse: function (entry, resp, xhr) {
        var L = this._live;
        var model = entry.model;
        if (entry.method !== 'delete' && entry.method !== 'read' && model.id !== undefined && model.id !== null) {
          var tomb = L.tombstones.get(model.id);
          var version = etagVersion(xhr);
          if (tomb !== undefined && version !== null && tomb >= version && this.get(model) === model) {
            this._liveDestroy(model, { live: { deleted: true } });
          }
        }
        if (entry.method === 'create') this._liveRelease(false);
      },
    }),
  );

  /**
   * A LiveModel that listens with this collection's faye client is done when the collection drops it
   * (remove, reset, a row that left the filter): it closes.
   */
  LiveCollection.prototype._removeReference = function (model) {
    var result = CollectionProto._removeReference.apply(this, arguments);
    if (model && model._live && model._live.borrowed === this && typeof model.close === 'function') model.close();
    return result;
  };

  if (typeof CollectionProto._addReference === 'function') {
    // Every model added goes through _addReference from Backbone 1.1.1 on; 1.0 and 1.1.0 have none, and
    // send every added model, instances too, through _prepareModel.
    LiveCollection.prototype._addReference = function (model) {
      adopt(model);
      return CollectionProto._addReference.apply(this, arguments);
    };
  }

  /**
   * A Backbone.Model that follows its record live: once it has an id and a url (`urlRoot` + id, or its
   * collection's url + id), it subscribes to the record's channel (`/api/todos/42`), loads it with a
   * snapshot, applies its PUT/PATCH events with `set`, and on its DELETE (or a snapshot without it)
   * triggers `destroy`, as a local destroy() does, and closes. See docs/backbone.md.
   */
  var LiveModel = Backbone.Model.extend(
    _.extend({}, LiveSync, {
      _liveName: 'LiveModel',
      _liveNoChannel: 'the model needs an id and a url (urlRoot, or a collection with a url), or options.channel',

      constructor: function LiveModel(attributes, options) {
        var opts = options || {};
        if (opts.urlRoot !== undefined) this.urlRoot = opts.urlRoot;
        if (opts.url !== undefined) this.url = opts.url;
        var settings = _.extend({}, DEFAULTS, _.result(this, 'liveOptions'), _.pick(opts, _.keys(DEFAULTS)));
        var state = (this._live = _.extend(liveState(this, settings), { version: null, armed: false, borrowed: null }));
        /** Settles on the first complete load, or with the error of a failed first listen (or a missing record). */
        this.ready = state.ready.promise;

        Backbone.Model.apply(this, arguments);

        var self = this;
        attachFaye(this, opts, function () {
          var collection = self.collection;
          var client = collection && collection.faye;
          if (!client || typeof client.subscribe !== 'function') return null;
          state.borrowed = collection; // closed when that collection drops it (see LiveCollection#_removeReference)
          return client;
        });
        this.on('change:' + this.idAttribute, this._liveIdChanged, this);
        this.on('destroy', this._liveDestroyed, this);
        if (!settings.listen) return;
        if (state.borrowed) {
          // Built by a LiveCollection (a load, an event): listen once its reset or add is over, so the
          // model this one replaces (a reset builds the new models first) has let go of the channel.
          Promise.resolve().then(function () {
            if (!state.closed && !state.listening) self.listen();
          });
        } else {
          this.listen(); // a new model: once it has an id (a save's response gives it one)
        }
      },

      /**
       * Writes carry a request id (the one a LiveCollection holding the model gave it, or a fresh one),
       * matched against events' `origin`; a response (a read's too) older than the version events
       * already brought does not roll the model back.
       */
      sync: function (method, model, options) {
        var L = this._live;
        var self = this;
        options = options || {};
        var entry = { method: method, rid: null };
        if (method !== 'read') {
          var name = L.settings.requestIdHeader;
          entry.rid = (options.headers && options.headers[name]) || newRequestId();
          var header = {};
          header[name] = entry.rid;
          options.headers = _.extend({}, options.headers, header);
          L.pending[entry.rid] = entry;
        }
        var settle = function () {
          if (entry.rid) delete L.pending[entry.rid];
        };
        var success = options.success;
        var error = options.error;
        options.success = function (resp, textStatus, xhr) {
          var args = _.toArray(arguments);
          var restore = noop;
          var version = method === 'delete' ? null : etagVersion(xhr);
          if (version !== null && L.version !== null && version < L.version && model === self) {
            // Events already brought a newer version of the record: answer Backbone with it, unchanged.
            options.parse = false;
            restore = skipParseOnce(self);
            args[0] = _.clone(self.attributes);
          } else if (version !== null && (L.version === null || version > L.version)) {
            L.version = version;
          }
          settle();
          try {
            return success ? success.apply(this, args) : undefined;
          } finally {
            restore();
          }
        };
        options.error = function () {
          settle();
          return error ? error.apply(this, arguments) : undefined;
        };
        try {
          return ModelProto.sync.call(this, method, model, options);
        } catch (e) {
          settle();
          throw e;
        }
      },

      /** A new model (no id yet) listens once it has one; otherwise as LiveCollection#listen. */
      listen: function () {
        var L = this._live;
        if (!L.closed && !L.listening && !L.settings.channel && this.isNew()) {
          L.armed = true;
          return this.ready;
        }
        L.armed = false;
        return LiveSync.listen.call(this);
      },

      unlisten: function () {
        this._live.armed = false;
        return LiveSync.unlisten.call(this);
      },

      _liveChannel: function () {
        if (this._live.settings.channel) return this._live.settings.channel;
        if (this.isNew()) return null;
        var url;
        try {
          url = _.result(this, 'url');
        } catch (e) {
          return null; // Backbone throws when there is neither urlRoot nor a collection url
        }
        return channelOf(url);
      },

      /** The id arrived (a save's response) or changed: listen on the record's channel. */
      _liveIdChanged: function () {
        var L = this._live;
        if (L.closed) return;
        if (L.armed) {
          if (this.isNew()) return;
          L.armed = false;
          this.listen();
          return;
        }
        if (!L.listening || L.settings.channel) return;
        var channel = this._liveChannel();
        if (channel === L.channel) return;
        // Another record: follow it from its own snapshot.
        this.unlisten();
        L.seq = null;
        L.version = null;
        if (channel) this.listen();
      },

      /** `destroy` on this model, from whatever source (its DELETE, a collection, a local destroy()): done. */
      _liveDestroyed: function (model) {
        if (model === this) this.close();
      },

      /** The record is gone: `destroy` with Backbone's arguments (collections holding it drop it), then close. */
      _liveGone: function (options) {
        var L = this._live;
        if (!L.ready.settled) {
          L.ready.reject(liveError('LiveModel: ' + L.channel + ' does not exist', { code: 404, deleted: true }));
        }
        if (L.cycle && !L.cycle.settled) L.cycle.reject(liveError('LiveModel: ' + L.channel + ' was deleted'));
        this.unlisten();
        this.trigger('destroy', this, this.collection, options);
        this.close();
      },

      /** Loads the record over REST (GET on its url); a 404 means it is gone. */
      _liveFetch: function () {
        var L = this._live;
        var self = this;
        L.loading = true;
        L.want = null;
        L.seq = null;
        L.version = null;
        L.fetchGen += 1;
        var gen = L.fetchGen;
        var info = { source: 'fetch', seq: null };
        var options = { parse: true, live: info };
        options.success = function (resp) {
          if (gen !== L.fetchGen || !L.listening) return;
          L.retryDelay = L.settings.retryDelay;
          self.set(self.parse(resp, options), options);
          self.trigger('sync', self, resp, options);
          self.trigger('live:reset', self, info);
          self._liveLoaded(info);
        };
        options.error = function (xhr, textStatus, errorThrown) {
          if (gen !== L.fetchGen || !L.listening) return;
          if (xhr && xhr.status === 404) {
            self._liveGone({ live: info });
            return;
          }
          loadFailed(self, gen, xhr, textStatus, errorThrown, options);
        };
        try {
          this.sync('read', this, options);
        } catch (error) {
          options.error(null, 'error', error && error.message);
        }
      },

      _liveApplySnapshot: function (snapshot) {
        var L = this._live;
        var self = this;
        L.want = null;
        L.seq = snapshot.seq;
        L.version = null;
        var info = { source: 'snapshot', seq: snapshot.seq };
        var row = _.find(snapshot.rows, function (candidate) {
          return candidate && typeof candidate === 'object' && String(candidate[self.idAttribute]) === String(self.id);
        });
        if (!row) {
          this._liveGone({ live: info });
          return;
        }
        var options = { parse: true, live: info };
        this.set(this.parse(row, options), options);
        this.trigger('live:reset', this, info);
        this._liveLoaded(info);
      },

      /**
       * Applies one event of the record: POST/PUT/PATCH with `set` unless not newer than the version the
       * model has; DELETE: `destroy` (unless it is the echo of our own destroy(), which triggers its own),
       * and the model closes.
       */
      _liveApply: function (data) {
        var L = this._live;
        if (isNumber(data.seq)) L.seq = data.seq;
        var id = data.body[this.idAttribute];
        if (id === undefined || id === null || String(id) !== String(this.id)) {
          return this.trigger('live:ignored', this, data, 'other');
        }
        var own = typeof data.origin === 'string' ? L.pending[data.origin] : undefined;
        var version = isNumber(data.version) ? data.version : null;
        var known = L.version;
        var options = { live: data };
        if (data.method === 'DELETE') {
          if (version !== null && known !== null && version < known) {
            return this.trigger('live:ignored', this, data, 'stale');
          }
          this.trigger('live:applied', this, data);
          var ours = own
            ? own.method === 'delete'
            : typeof data.origin !== 'string' &&
              _.some(_.values(L.pending), function (entry) {
                return entry.method === 'delete';
              });
          if (ours) this.close(); // our destroy() triggers `destroy` itself
          else this._liveGone(options);
          return undefined;
        }
        if (version !== null && known !== null && version <= known) {
          return this.trigger('live:ignored', this, data, 'stale');
        }
        if (version !== null) L.version = version;
        this.set(this.parse(_.clone(data.body), options), options);
        return this.trigger('live:applied', this, data);
      },
    }),
  );

  /**
   * Disconnects a faye client this library made (bounded to 2 s), then leaves it inert: no more
   * handshakes, connects, resends or transports. The faye 1.4.3 internals used here are each checked
   * before use.
   */
  function shutdown(client) {
    return new Promise(function (resolve) {
      var finished = false;
      var timer = setTimeout(finish, 2000);
      function finish() {
        if (finished) return;
        finished = true;
        clearTimeout(timer);
        quiesce(client);
        resolve();
      }
      try {
        if (client._state === client.CONNECTED) {
          var publication = client.disconnect();
          if (publication && typeof publication.then === 'function') publication.then(finish, finish);
          else finish();
        } else {
          finish();
        }
      } catch (e) {
        finish();
      }
    });
  }

  /**
   * Stops everything a faye client could still do by itself: a client that is not connected retries
   * its handshake for ever, an unanswered message is resent for ever, and a transport probe still in
   * flight (faye tries WebSocket beside long-polling) can select and open a transport after close().
   */
  function quiesce(client) {
    if (client._advice) client._advice.reconnect = 'none'; // read before each handshake and connect
    var dispatcher = client._dispatcher;
    if (!dispatcher) return;
    dispatcher.selectTransport = noop;
    if (dispatcher._envelopes && typeof dispatcher._envelopes.forEach === 'function') {
      dispatcher._envelopes.forEach(function (envelope) {
        clearTimeout(envelope.timer);
      });
      dispatcher._envelopes.clear();
    }
    if (typeof dispatcher.close === 'function') dispatcher.close();
    _.each(dispatcher.transports, function (byEndpoint) {
      if (byEndpoint && typeof byEndpoint.forEach === 'function') {
        byEndpoint.forEach(function (transport) {
          if (transport && typeof transport.close === 'function') transport.close();
        });
      }
    });
  }

  /**
   * A jQuery.ajax-compatible function over `fetch`, for Backbone.ajax where jQuery is absent (Node,
   * pages without jQuery). Supports url, type/method, data, contentType, processData, headers,
   * beforeSend (setRequestHeader), dataType, timeout, context, success, error, complete; returns an
   * xhr-like object (status, responseText, responseJSON, getResponseHeader, abort) that is also a
   * thenable (then/catch/done/fail/always). Extra settings: `fetch` (the fetch function) and `baseUrl`
   * (resolves relative URLs, needed in Node).
   */
  function fetchAjax(settings) {
    settings = settings || {};
    var fetchImpl = settings.fetch || (typeof fetch === 'function' ? fetch : null);
    var method = String(settings.type || settings.method || 'GET').toUpperCase();
    var url = String(settings.url || '');
    if (settings.baseUrl && !/^[a-z][a-z0-9+.-]*:/i.test(url)) url = new URL(url, settings.baseUrl).toString();
    var headers = {};
    var responseHeaders = null;
    var controller = typeof AbortController === 'function' ? new AbortController() : null;
    var aborted = null;
    var xhr = {
      readyState: 1,
      status: 0,
      statusText: '',
      responseText: '',
      responseJSON: undefined,
      setRequestHeader: function (name, value) {
        headers[name] = String(value);
      },
      getResponseHeader: function (name) {
        return responseHeaders ? responseHeaders.get(name) : null;
      },
      getAllResponseHeaders: function () {
        if (!responseHeaders) return '';
        var lines = [];
        responseHeaders.forEach(function (value, name) {
          lines.push(name + ': ' + value);
        });
        return lines.join('\r\n');
      },
      abort: function (reason) {
        aborted = reason || 'abort';
        if (controller) controller.abort();
      },
    };

    var data = settings.data;
    if (data !== undefined && data !== null && typeof data !== 'string' && settings.processData !== false) {
      var params = new URLSearchParams();
      _.each(data, function (value, key) {
        params.append(key, typeof value === 'object' && value !== null ? JSON.stringify(value) : String(value));
      });
      data = params.toString();
    }
    var body;
    if (method === 'GET' || method === 'HEAD') {
      if (data) url += (url.indexOf('?') < 0 ? '?' : '&') + data;
    } else if (data !== undefined && data !== null) {
      body = data;
      if (settings.contentType !== false) {
        headers['Content-Type'] = settings.contentType || 'application/x-www-form-urlencoded; charset=UTF-8';
      }
    }
    if (settings.dataType === 'json') headers.Accept = 'application/json, text/javascript, */*; q=0.01';
    _.each(settings.headers, function (value, name) {
      headers[name] = String(value);
    });
    var context = settings.context || settings;

    var outcome = new Promise(function (resolve) {
      if (typeof settings.beforeSend === 'function' && settings.beforeSend.call(context, xhr, settings) === false) {
        aborted = 'canceled';
      }
      if (aborted) return resolve({ ok: false, textStatus: aborted, error: aborted });
      if (!fetchImpl) return resolve({ ok: false, textStatus: 'error', error: 'no fetch function available' });
      var timer = null;
      if (settings.timeout > 0) {
        timer = setTimeout(function () {
          xhr.abort('timeout');
        }, settings.timeout);
      }
      Promise.resolve()
        .then(function () {
          return fetchImpl(url, {
            method: method,
            headers: headers,
            body: body,
            signal: controller ? controller.signal : undefined,
            credentials: settings.xhrFields && settings.xhrFields.withCredentials ? 'include' : 'same-origin',
          });
        })
        .then(function (response) {
          responseHeaders = response.headers;
          xhr.status = response.status;
          xhr.statusText = response.statusText;
          return response.text().then(function (text) {
            xhr.readyState = 4;
            xhr.responseText = text;
            var ok = (response.status >= 200 && response.status < 300) || response.status === 304;
            var type = response.headers.get('content-type') || '';
            var wantsJson = settings.dataType === 'json' || (!settings.dataType && /json/i.test(type));
            var parsed = text;
            if (wantsJson || /json/i.test(type)) {
              try {
                parsed = text ? JSON.parse(text) : undefined;
                xhr.responseJSON = parsed;
              } catch (e) {
                if (ok && wantsJson) return resolve({ ok: false, textStatus: 'parsererror', error: e });
              }
            }
            if (ok) resolve({ ok: true, data: parsed, textStatus: response.status === 304 ? 'notmodified' : 'success' });
            else resolve({ ok: false, textStatus: 'error', error: response.statusText || String(response.status) });
          });
        })
        .catch(function (e) {
          xhr.readyState = 4;
          resolve({ ok: false, textStatus: aborted || 'error', error: aborted || (e && e.message) || String(e) });
        })
        .then(function () {
          clearTimeout(timer);
        });
    });

    outcome.then(function (result) {
      // Callbacks run outside the promise chain, so an exception in one is reported as uncaught, as
      // with jQuery, and does not turn into a call of the other.
      var call = function (fn, args) {
        if (typeof fn !== 'function') return;
        try {
          fn.apply(context, args);
        } catch (e) {
          setTimeout(function () {
            throw e;
          }, 0);
        }
      };
      if (result.ok) call(settings.success, [result.data, result.textStatus, xhr]);
      else call(settings.error, [xhr, result.textStatus, result.error]);
      call(settings.complete, [xhr, result.textStatus]);
    });

    var settled = outcome.then(function (result) {
      if (result.ok) return result.data;
      var error = new Error(
        (method + ' ' + url + ': ' + (xhr.status ? xhr.status + ' ' : '') + (result.error || result.textStatus)).trim(),
      );
      error.xhr = xhr;
      error.status = xhr.status;
      error.textStatus = result.textStatus;
      throw error;
    });
    settled.catch(noop);
    xhr.then = function (onFulfilled, onRejected) {
      return settled.then(onFulfilled, onRejected);
    };
    xhr.catch = function (onRejected) {
      return settled.catch(onRejected);
    };
    xhr.finally = function (onFinally) {
      return settled.finally(onFinally);
    };
    xhr.done = function (fn) {
      outcome.then(function (r) {
        if (r.ok) fn.call(context, r.data, r.textStatus, xhr);
      });
      return xhr;
    };
    xhr.fail = function (fn) {
      outcome.then(function (r) {
        if (!r.ok) fn.call(context, xhr, r.textStatus, r.error);
      });
      return xhr;
    };
    xhr.always = function (fn) {
      outcome.then(function (r) {
        fn.call(context, xhr, r.textStatus);
      });
      return xhr;
    };
    return xhr;
  }

  /**
   * Makes `backbone` (default: the Backbone this library uses) send its requests with fetchAjax.
   * `options.baseUrl` resolves relative URLs (Node has no page to resolve them against);
   * `options.fetch` replaces the fetch function. Returns the new Backbone.ajax.
   */
  function useFetch(backbone, options) {
    var target = backbone || Backbone;
    var defaults = _.pick(options || {}, 'baseUrl', 'fetch');
    target.ajax = function (settings) {
      return fetchAjax(_.extend({}, defaults, settings));
    };
    return target.ajax;
  }

  /**
   * This library built over another Backbone (or underscore, or Faye) than the one it found, for
   * apps that bundle their own copies: `create({Backbone, _, Faye})`.
   */
  function create(deps) {
    deps = deps || {};
    var faye = deps.Faye;
    return build(deps.Backbone || Backbone, deps._ || _, faye ? function () { return faye; } : loadFaye);
  }

  return {
    VERSION: VERSION,
    LiveCollection: LiveCollection,
    LiveModel: LiveModel,
    fetchAjax: fetchAjax,
    useFetch: useFetch,
    channelOf: channelOf,
    ackExtension: ackExtension,
    create: create,
  };
});
