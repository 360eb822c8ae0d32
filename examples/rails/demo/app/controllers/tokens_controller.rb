# frozen_string_literal: true

# TokensController issues API tokens (demo: so a test can revoke one
# without touching the seeded ones).
class TokensController < ApplicationController
  skip_forgery_protection

  # POST /tokens (username, password) → 201 {"token": "tok-..."}
  def create
    user = User.authenticate(params[:username], params[:password])
    return render json: { error: "invalid credentials" }, status: :unauthorized unless user
    return render json: { error: "account disabled" }, status: :forbidden if user.disabled?

    render json: { token: ApiToken.issue(user) }, status: :created
  end
end
