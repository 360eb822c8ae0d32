# frozen_string_literal: true

module LegacyAuthVerify
  # SessionBridge is the engine's own middleware: when the host app's stack
  # has no session middleware (an API-only app: ActionController::API apps
  # get neither cookies nor sessions), it reads the session through the
  # app's configured session store (config.session_store, the cookie store
  # named "_<app>_session" by default) and its cookie settings, so a
  # session-cookie credential still verifies instead of quietly answering
  # 401. In a full app the session is already loaded and this passes
  # through.
  class SessionBridge
    def initialize(app)
      @app = app
      @mutex = Mutex.new
      @with_session = nil
    end

    def call(env)
      return @app.call(env) if env.key?(Rack::RACK_SESSION)

      with_session.call(env)
    end

    private

    # Built on first use, when the host app's configuration is final.
    def with_session
      @with_session || @mutex.synchronize { @with_session ||= build }
    end

    def build
      config = ::Rails.application.config
      store = config.session_store # nil when the app disabled sessions
      inner = store ? store.new(@app, config.session_options) : @app
      ActionDispatch::Cookies.new(inner)
    end
  end
end
