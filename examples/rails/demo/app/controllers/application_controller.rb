# frozen_string_literal: true

# ApplicationController keeps Rails' CSRF protection on, as a real app does.
class ApplicationController < ActionController::Base
  protect_from_forgery with: :exception
end
