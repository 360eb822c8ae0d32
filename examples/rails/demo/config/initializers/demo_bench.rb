# frozen_string_literal: true

# Bench only (make bench, section 7): DEMO_VERIFY_WORK_MS=25 makes every
# verify call hold its Puma thread that long before the engine answers, as
# a heavier monolith's verify would (database, session store, ...), so
# that a surge meets a saturated Rails as in the issue. Off by default.
class DemoVerifyWork
  def initialize(app, seconds)
    @app = app
    @seconds = seconds
  end

  def call(env)
    sleep(@seconds) if env["PATH_INFO"].start_with?("/internal/auth/verify")
    @app.call(env)
  end
end

if (ms = ENV["DEMO_VERIFY_WORK_MS"].to_i).positive?
  Rails.application.config.middleware.insert_before 0, DemoVerifyWork, ms / 1000.0
end
