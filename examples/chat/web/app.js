// The chat page: a live list of rooms, and the messages of the room selected, with a composer. Two
// BackboneLive.LiveCollections on one faye client: the rooms (/api/rooms, channel /api/rooms), and the
// messages of one room (/api/rooms/<id>/messages, channel of the same name), made anew each time a room is
// selected and closed when another one is, so a page only ever listens to the room it shows.
//
// The room shown is the hash route (#rooms/7), so a reload or a link keeps it. `window.chatApp` exposes
// the collections and their readiness for tests; the DOM carries stable ids, classes and data attributes.

(function () {
  'use strict';

  var AUTHOR_KEY = 'live-chat.author';
  /** The server's limits, in characters (example-chat checks them again). */
  var LIMITS = { name: 80, author: 40, text: 2000 };

  // A room as the server stores it: {id, name}.
  var Room = Backbone.Model.extend({
    defaults: function () {
      return { name: '' };
    },
  });

  // Rooms by name (case-insensitive), then id.
  var Rooms = BackboneLive.LiveCollection.extend({
    model: Room,
    url: '/api/rooms',
    comparator: function (a, b) {
      var byName = String(a.get('name')).localeCompare(String(b.get('name')), undefined, { sensitivity: 'base' });
      if (byName !== 0) return byName;
      return idOrder(a, b);
    },
  });

  // A message as the server stores it: {id, room_id, author, text, sent_at}. The server takes room_id from
  // the URL and sets sent_at itself, so a new message carries only author and text.
  var Message = Backbone.Model.extend({});

  // One room's messages, in the order the server stored them (by id); one being sent (no id yet) goes last.
  var Messages = BackboneLive.LiveCollection.extend({
    model: Message,
    comparator: idOrder,

    initialize: function (models, options) {
      this.roomId = options.roomId;
    },

    // The REST base and the channel of this room's messages.
    url: function () {
      return '/api/rooms/' + encodeURIComponent(this.roomId) + '/messages';
    },
  });

  /** Stored models by id; a model not yet stored after every stored one. */
  function idOrder(a, b) {
    var aId = a.id === undefined ? Infinity : a.id;
    var bId = b.id === undefined ? Infinity : b.id;
    if (aId === bId) return 0;
    return aId < bId ? -1 : 1;
  }

  /** The reason a write was refused, from the server's error body ({error: {message, fields}}). */
  function refusal(xhr) {
    var body = xhr && xhr.responseJSON;
    var error = body && body.error;
    if (error && error.fields) {
      return _.map(error.fields, function (message, field) {
        return field + ' ' + message;
      }).join('; ');
    }
    if (error && error.message) return error.message;
    return 'the server did not answer (' + ((xhr && xhr.status) || 'offline') + ')';
  }

  /** What is wrong with `value` as a field limited to `max` characters, or null. */
  function problem(value, max) {
    if (!value.trim()) return 'must not be empty';
    if (Array.from(value).length > max) return 'must be at most ' + max + ' characters';
    return null;
  }

  function showError($error, text) {
    $error.text(text || '').prop('hidden', !text);
  }

  function readAuthor() {
    try {
      return window.localStorage.getItem(AUTHOR_KEY) || '';
    } catch (e) {
      return ''; // storage turned off
    }
  }

  function storeAuthor(author) {
    try {
      window.localStorage.setItem(AUTHOR_KEY, author);
    } catch (e) {
      // storage turned off: the name lasts as long as the page
    }
  }

  /** The local time of day of an RFC 3339 timestamp (HH:MM), or '' if there is none. */
  function timeOfDay(stamp) {
    var date = stamp ? new Date(stamp) : null;
    if (!date || isNaN(date.getTime())) return '';
    return date.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
  }

  // The room list: one <li class="room" data-id> per room, the selected one marked. Rooms are few, so the
  // list is drawn again on every change.
  var RoomListView = Backbone.View.extend({
    initialize: function (options) {
      this.rooms = options.rooms;
      this.selected = null;
      this.listenTo(this.rooms, 'add remove reset sort change:name change:id', this.render);
      this.render();
    },

    select: function (id) {
      this.selected = id;
      this.render();
    },

    render: function () {
      var selected = this.selected;
      var items = this.rooms
        .filter(function (room) {
          return !room.isNew();
        })
        .map(function (room) {
          var current = String(room.id) === String(selected);
          var $link = $('<a class="room-link">')
            .attr('href', '#rooms/' + room.id)
            .text(room.get('name'));
          if (current) $link.attr('aria-current', 'page');
          return $('<li class="room">')
            .attr('data-id', String(room.id))
            .toggleClass('selected', current)
            .append($link);
        });
      this.$el.empty().append(items);
      return this;
    },
  });

  // The form that creates a room, then selects it.
  var NewRoomView = Backbone.View.extend({
    events: { submit: 'create' },

    initialize: function (options) {
      this.rooms = options.rooms;
      this.router = options.router;
      this.$name = this.$('#room-name');
      this.$error = this.$('.error');
    },

    create: function (event) {
      event.preventDefault();
      var name = String(this.$name.val()).trim();
      var wrong = problem(name, LIMITS.name);
      if (wrong) return showError(this.$error, 'The name ' + wrong + '.');
      showError(this.$error, '');
      var self = this;
      this.rooms.create(
        { name: name },
        {
          wait: true,
          success: function (room) {
            self.$name.val('');
            self.router.navigate('rooms/' + room.id, { trigger: true });
          },
          error: function (room, xhr) {
            showError(self.$error, 'Cannot create the room: ' + refusal(xhr) + '.');
          },
        },
      );
    },
  });

  // One message: <li class="message" data-id> with its author, time and text; `pending` until stored.
  var MessageView = Backbone.View.extend({
    tagName: 'li',
    className: 'message',

    initialize: function () {
      this.$el.html('<div class="meta"><span class="author"></span><time class="sent-at"></time></div><p class="text"></p>');
      this.$author = this.$('.author');
      this.$time = this.$('.sent-at');
      this.$text = this.$('.text');
      this.listenTo(this.model, 'change', this.render);
    },

    render: function () {
      var model = this.model;
      var stamp = model.get('sent_at');
      this.$el.attr('data-id', model.isNew() ? null : String(model.id)).toggleClass('pending', model.isNew());
      this.$author.text(model.get('author'));
      this.$time.attr('datetime', stamp || null).text(model.isNew() ? 'sending…' : timeOfDay(stamp));
      this.$text.text(model.get('text'));
      return this;
    },
  });

  // The messages of the room shown, in the collection's order, kept at the bottom when read there.
  var MessageListView = Backbone.View.extend({
    initialize: function (options) {
      this.messages = options.messages;
      this.views = {};
      this.listenTo(this.messages, 'add', this.addOne);
      this.listenTo(this.messages, 'remove', this.forget);
      this.listenTo(this.messages, 'reset', this.addAll);
      this.listenTo(this.messages, 'sort', this.placeAll);
      // A message sent from this page gets its id when stored: place it again.
      this.listenTo(this.messages, 'change:id', function () {
        this.messages.sort();
      });
      this.addAll();
    },

    /** Whether the list is scrolled to (nearly) its end, so that new messages should keep it there. */
    atEnd: function () {
      var el = this.el;
      return el.scrollHeight - el.scrollTop - el.clientHeight < 40;
    },

    follow: function (wasAtEnd) {
      if (wasAtEnd) this.el.scrollTop = this.el.scrollHeight;
    },

    addOne: function (message) {
      if (this.views[message.cid]) return;
      var wasAtEnd = this.atEnd();
      this.views[message.cid] = new MessageView({ model: message }).render();
      this.placeAll();
      this.follow(wasAtEnd || message.isNew());
    },

    addAll: function () {
      this.clear();
      this.messages.each(function (message) {
        this.views[message.cid] = new MessageView({ model: message }).render();
      }, this);
      this.placeAll();
      this.follow(true);
    },

    // Puts the <li>s in the collection's order, moving only those out of place.
    placeAll: function () {
      var list = this.el;
      var next = list.firstElementChild;
      this.messages.each(function (message) {
        var view = this.views[message.cid];
        if (!view) return;
        if (view.el === next) {
          next = next.nextElementSibling;
        } else {
          list.insertBefore(view.el, next);
        }
      }, this);
    },

    forget: function (message) {
      var view = this.views[message.cid];
      if (view) view.remove();
      delete this.views[message.cid];
    },

    clear: function () {
      _.invoke(_.values(this.views), 'remove');
      this.views = {};
    },

    /** Stops following the collection and empties the list; the element stays for the next room. */
    close: function () {
      this.stopListening();
      this.clear();
      this.$el.empty();
    },
  });

  // The composer: the author's name (remembered in localStorage) and the text; Enter sends.
  var ComposerView = Backbone.View.extend({
    events: {
      submit: 'send',
      'keydown #text': 'textKey',
      'change #author': 'rememberAuthor',
    },

    initialize: function () {
      this.messages = null;
      this.$author = this.$('#author');
      this.$text = this.$('#text');
      this.$error = this.$('.error');
      this.$author.val(readAuthor());
    },

    /** The collection new messages go to (that of the room shown), or null. */
    use: function (messages) {
      this.messages = messages;
      showError(this.$error, '');
    },

    rememberAuthor: function () {
      storeAuthor(String(this.$author.val()).trim());
    },

    textKey: function (event) {
      var composing = event.originalEvent && event.originalEvent.isComposing;
      if (event.key === 'Enter' && !event.shiftKey && !composing) {
        event.preventDefault();
        this.send(event);
      }
    },

    send: function (event) {
      if (event) event.preventDefault();
      if (!this.messages) return;
      var author = String(this.$author.val()).trim();
      var text = String(this.$text.val());
      var wrong = problem(author, LIMITS.author);
      if (wrong) {
        showError(this.$error, 'Your name ' + wrong + '.');
        this.$author.trigger('focus');
        return;
      }
      wrong = problem(text, LIMITS.text);
      if (wrong) return showError(this.$error, 'The message ' + wrong + '.');
      showError(this.$error, '');
      storeAuthor(author);
      var self = this;
      var messages = this.messages;
      messages.create(
        { author: author, text: text.trim() },
        {
          error: function (message, xhr) {
            messages.remove(message);
            if (self.messages === messages) showError(self.$error, 'Not sent: ' + refusal(xhr) + '.');
          },
        },
      );
      this.$text.val('').trigger('focus');
    },
  });

  // The right-hand pane: the room shown, its messages and the composer. open(id) closes the previous
  // room's collection (its subscription with it) before making the next one.
  var RoomView = Backbone.View.extend({
    initialize: function (options) {
      this.rooms = options.rooms;
      this.state = options.state;
      this.roomId = null;
      this.messages = null;
      this.list = null;
      this.$title = this.$('#room-title');
      this.$placeholder = this.$('#room-placeholder');
      this.$messages = this.$('#messages');
      this.composer = new ComposerView({ el: this.$('#composer') });
      this.listenTo(this.rooms, 'change:name', this.renderTitle);
      this.listenTo(this.rooms, 'remove', function (room) {
        if (String(room.id) === String(this.roomId)) this.show(null, 'deleted', 'This room was deleted.');
      });
      this.listenTo(this.rooms, 'add', function (room) {
        // A room linked to before this page knew of it.
        if (this.$el.attr('data-state') === 'missing' && String(room.id) === String(this.roomId)) this.open(room.id);
      });
    },

    /** Shows room `id` (a number), or nothing with null. */
    open: function (id) {
      if (id === null) return this.show(null, 'none', 'Pick a room on the left, or create one.');
      if (!this.rooms.get(id)) return this.show(id, 'missing', 'There is no room ' + id + '.');
      if (this.messages && this.messages.roomId === id) return; // already shown
      this.teardown();
      var messages = new Messages([], { roomId: id, faye: this.rooms.faye });
      this.messages = messages;
      this.state.messages = messages;
      this.list = new MessageListView({ el: this.$messages, messages: messages });
      this.composer.use(messages);
      this.setRoom(id, 'loading');
      this.$placeholder.prop('hidden', true);
      this.$messages.prop('hidden', false);
      this.composer.$el.prop('hidden', false);
      var self = this;
      messages.ready.then(
        function () {
          if (self.messages === messages) self.setRoom(id, 'ready');
        },
        function (error) {
          if (self.messages !== messages) return; // closed by a switch before it loaded
          self.show(id, 'error', 'Cannot load the messages: ' + String((error && error.message) || error));
        },
      );
    },

    /** Closes the messages shown, then shows `text` in their place. */
    show: function (id, state, text) {
      this.teardown();
      this.setRoom(id, state);
      this.$placeholder.text(text).prop('hidden', false);
      this.$messages.prop('hidden', true);
      this.composer.$el.prop('hidden', true);
    },

    /** Ends the live life of the room shown: its view and its collection (which cancels the subscription). */
    teardown: function () {
      if (this.list) this.list.close();
      if (this.messages) this.messages.close();
      this.list = null;
      this.messages = null;
      this.state.messages = null;
      this.composer.use(null);
    },

    setRoom: function (id, state) {
      this.roomId = id;
      this.state.roomId = id;
      this.$el.attr({ 'data-room-id': id === null ? '' : String(id), 'data-state': state });
      this.renderTitle();
    },

    renderTitle: function () {
      var room = this.roomId === null ? null : this.rooms.get(this.roomId);
      this.$title.text(room ? room.get('name') : this.roomId === null ? 'No room selected' : 'Room ' + this.roomId);
      document.title = (room ? room.get('name') + ' • ' : '') + 'live • chat';
    },
  });

  // #rooms/<id> shows that room; anything else, none.
  var Router = Backbone.Router.extend({
    routes: {
      'rooms/:id': 'room',
      '*other': 'none',
    },

    initialize: function (options) {
      this.select = options.select;
    },

    room: function (id) {
      this.select(/^[1-9]\d{0,15}$/.test(id) ? Number(id) : null);
    },

    none: function () {
      this.select(null);
    },
  });

  var faye = new Faye.Client(location.origin + '/live');
  var rooms = new Rooms([], { faye: faye });
  var state = { faye: faye, rooms: rooms, messages: null, roomId: null, ready: false, error: null };
  window.chatApp = state;

  var roomList = new RoomListView({ el: $('#rooms'), rooms: rooms });
  var pane = new RoomView({ el: $('#room'), rooms: rooms, state: state });
  var router = new Router({
    select: function (id) {
      roomList.select(id);
      // Whether a room exists is known once the rooms are loaded.
      rooms.ready.then(function () {
        if (roomList.selected === id) pane.open(id);
      }, _.noop);
    },
  });
  new NewRoomView({ el: $('#new-room'), rooms: rooms, router: router });

  var status = document.querySelector('.live-status');
  function showStatus(name, text) {
    status.setAttribute('data-state', name);
    status.textContent = text;
  }
  faye.on('transport:down', function () {
    showStatus('offline', 'offline, reconnecting…');
  });
  faye.on('transport:up', function () {
    if (state.ready) showStatus('live', 'live');
  });

  Backbone.history.start();

  rooms.ready.then(
    function () {
      state.ready = true;
      showStatus('live', 'live');
    },
    function (error) {
      state.error = String((error && error.message) || error);
      showStatus('offline', 'cannot load the rooms: ' + state.error);
    },
  );
})();
