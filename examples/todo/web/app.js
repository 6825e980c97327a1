// The todo app, in the manner of TodoMVC's Backbone version: views over one collection of todos. The
// collection is a BackboneLive.LiveCollection of /api/todos, so a change made in any page (or over REST)
// reaches every open page; the views only listen to ordinary collection and model events.
//
// Markup and class names are TodoMVC's (styled by the npm package todomvc-app-css), so the usual TodoMVC
// tooling can drive the page. `window.todoApp` exposes the collection and its readiness for tests.

(function () {
  'use strict';

  var ENTER = 'Enter';
  var ESCAPE = 'Escape';
  var FILTERS = ['', 'active', 'completed'];

  // A todo as the server stores it: {id, title, completed, order}. The server assigns the id and rejects
  // unknown fields, so the model carries nothing else.
  var Todo = Backbone.Model.extend({
    defaults: function () {
      return { title: '', completed: false, order: 0 };
    },

    toggle: function () {
      this.save({ completed: !this.get('completed') }, { patch: true });
    },
  });

  // Todos in `order`, ties (two pages adding at once take the same order) broken by id; a todo not yet
  // stored (no id) goes after the stored ones of its order.
  function compareTodos(a, b) {
    var byOrder = a.get('order') - b.get('order');
    if (byOrder !== 0) return byOrder;
    var aId = a.id === undefined ? Infinity : a.id;
    var bId = b.id === undefined ? Infinity : b.id;
    if (aId === bId) return 0;
    return aId < bId ? -1 : 1;
  }

  var Todos = BackboneLive.LiveCollection.extend({
    model: Todo,
    comparator: compareTodos,

    completed: function () {
      return this.where({ completed: true });
    },

    remaining: function () {
      return this.where({ completed: false });
    },

    // The order of a new todo: after every todo of the list.
    nextOrder: function () {
      var last = this.max(function (todo) {
        return todo.get('order');
      });
      return this.length === 0 || last === -Infinity ? 1 : last.get('order') + 1;
    },
  });

  // One <li> of the list. Its children are built once and updated in place, so that a change arriving from
  // another page while this one is being edited leaves the edit field (and what is typed in it) alone.
  var TodoView = Backbone.View.extend({
    tagName: 'li',

    events: {
      'click .toggle': 'toggleCompleted',
      'dblclick label': 'edit',
      'click .destroy': 'clear',
      'keydown .edit': 'editKey',
      'blur .edit': 'close',
    },

    initialize: function (options) {
      this.app = options.app;
      this.$el.html(
        '<div class="view"><input class="toggle" type="checkbox"><label></label>' +
          '<button class="destroy"></button></div><input class="edit">',
      );
      this.$toggle = this.$('.toggle');
      this.$label = this.$('label');
      this.$input = this.$('.edit');
      this.listenTo(this.model, 'change', this.render);
      this.listenTo(this.model, 'remove destroy', this.remove);
    },

    render: function () {
      var completed = this.model.get('completed');
      this.$el.toggleClass('completed', completed);
      this.$el.attr('data-id', this.model.id === undefined ? null : String(this.model.id));
      this.$toggle.prop('checked', completed);
      this.$label.text(this.model.get('title'));
      this.$el.toggleClass('hidden', !this.app.visible(this.model));
      return this;
    },

    toggleCompleted: function () {
      this.model.toggle();
    },

    edit: function () {
      this.$el.addClass('editing');
      this.$input.val(this.model.get('title'));
      this.$input.trigger('focus');
    },

    // Saves the edit (Enter or leaving the field); an empty title deletes the todo.
    close: function () {
      if (!this.$el.hasClass('editing')) return;
      var title = String(this.$input.val()).trim();
      this.$el.removeClass('editing');
      if (!title) {
        this.clear();
      } else if (title !== this.model.get('title')) {
        this.model.save({ title: title }, { patch: true });
      }
      this.render();
    },

    editKey: function (event) {
      if (event.key === ENTER) {
        this.close();
      } else if (event.key === ESCAPE) {
        // Cancel: leave editing without saving (the blur that follows finds nothing to save).
        this.$el.removeClass('editing');
        this.render();
      }
    },

    clear: function () {
      this.model.destroy();
    },
  });

  // The whole app: the new-todo field, the list, the footer with its counter, filters and clear button.
  var AppView = Backbone.View.extend({
    events: {
      'keydown .new-todo': 'createOnEnter',
      'click .clear-completed': 'clearCompleted',
      'click .toggle-all': 'toggleAll',
    },

    initialize: function (options) {
      this.todos = options.todos;
      this.filter = '';
      this.views = {};
      this.$input = this.$('.new-todo');
      this.$allCheckbox = this.$('.toggle-all');
      this.$list = this.$('.todo-list');
      this.$main = this.$('.main');
      this.$footer = this.$('.footer');
      this.listenTo(this.todos, 'add', this.addOne);
      this.listenTo(this.todos, 'reset', this.addAll);
      this.listenTo(this.todos, 'sort', this.placeAll);
      this.listenTo(this.todos, 'remove', this.forget);
      // The position of a todo depends on its order and id: place it again when either changes (a new
      // todo gets its id when the server answers).
      this.listenTo(this.todos, 'change:order change:id', function () {
        this.todos.sort();
      });
      this.listenTo(this.todos, 'add remove reset change:completed', this.renderStats);
      this.addAll();
    },

    visible: function (todo) {
      if (this.filter === 'active') return !todo.get('completed');
      if (this.filter === 'completed') return todo.get('completed');
      return true;
    },

    setFilter: function (filter) {
      this.filter = FILTERS.indexOf(filter) >= 0 ? filter : '';
      this.$('.filters a').each(
        function (_, link) {
          var target = link.getAttribute('href').replace(/^#\/?/, '');
          link.classList.toggle('selected', target === this.filter);
        }.bind(this),
      );
      this.todos.each(function (todo) {
        this.views[todo.cid].render();
      }, this);
    },

    addOne: function (todo) {
      if (this.views[todo.cid]) return;
      var view = new TodoView({ model: todo, app: this });
      this.views[todo.cid] = view;
      view.render();
      this.placeAll();
    },

    addAll: function () {
      _.each(this.views, function (view) {
        view.remove();
      });
      this.views = {};
      this.todos.each(function (todo) {
        var view = new TodoView({ model: todo, app: this });
        this.views[todo.cid] = view;
        view.render();
      }, this);
      this.placeAll();
      this.renderStats();
    },

    // Puts the <li>s in the collection's order, moving only those out of place.
    placeAll: function () {
      var list = this.$list[0];
      var next = list.firstElementChild;
      this.todos.each(function (todo) {
        var view = this.views[todo.cid];
        if (!view) return;
        if (view.el === next) {
          next = next.nextElementSibling;
        } else {
          list.insertBefore(view.el, next);
        }
      }, this);
    },

    forget: function (todo) {
      var view = this.views[todo.cid];
      if (view) view.remove();
      delete this.views[todo.cid];
    },

    renderStats: function () {
      var completed = this.todos.completed().length;
      var remaining = this.todos.length - completed;
      this.$main.toggleClass('hidden', this.todos.length === 0);
      this.$footer.toggleClass('hidden', this.todos.length === 0);
      this.$('.todo-count').html('<strong>' + remaining + '</strong> ' + (remaining === 1 ? 'item' : 'items') + ' left');
      this.$('.clear-completed').toggleClass('hidden', completed === 0);
      this.$allCheckbox.prop('checked', this.todos.length > 0 && remaining === 0);
    },

    createOnEnter: function (event) {
      if (event.key !== ENTER) return;
      var title = String(this.$input.val()).trim();
      if (!title) return;
      this.todos.create({ title: title, completed: false, order: this.todos.nextOrder() });
      this.$input.val('');
    },

    clearCompleted: function () {
      _.invoke(this.todos.completed(), 'destroy');
      return false;
    },

    toggleAll: function () {
      var completed = this.$allCheckbox.prop('checked');
      this.todos.each(function (todo) {
        if (todo.get('completed') !== completed) todo.save({ completed: completed }, { patch: true });
      });
    },
  });

  // Filters are hash routes: #/, #/active, #/completed.
  var Filters = Backbone.Router.extend({
    routes: { '*filter': 'setFilter' },

    initialize: function (options) {
      this.app = options.app;
    },

    setFilter: function (filter) {
      this.app.setFilter((filter || '').replace(/^\//, ''));
    },
  });

  var faye = new Faye.Client(location.origin + '/live');
  var todos = new Todos([], { url: '/api/todos', faye: faye });
  var app = new AppView({ el: $('.todoapp'), todos: todos });
  var status = document.querySelector('.live-status');
  var state = { todos: todos, app: app, ready: false, error: null };
  window.todoApp = state;

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

  new Filters({ app: app });
  Backbone.history.start();

  todos.ready.then(
    function () {
      state.ready = true;
      showStatus('live', 'live');
    },
    function (error) {
      state.error = String((error && error.message) || error);
      showStatus('offline', 'cannot load the todos: ' + state.error);
    },
  );
})();
