# frozen_string_literal: true

# PagesController: the rest of the demo host app.
class PagesController < ApplicationController
  # GET /me: who the session says you are (a tracked, live session only).
  def me
    user_id = LegacyAuthVerify::Sessions.user_id(session)
    return render json: { error: "not logged in" }, status: :unauthorized unless user_id

    render json: { user_id: User.find(user_id).id }
  end

  # POST /profile: an ordinary form action, CSRF-protected like the rest of
  # the app (422 without an authenticity token).
  def profile
    head :no_content
  end

  def health
    render plain: "ok"
  end

  def calls
    render json: { calls: VERIFY_CALLS.value }
  end
end
