! ppx_c: the ppx C API (ppx/ppx_c.h) for Fortran simulators, through ISO_C_BINDING.
!
!   use ppx_c
!   status = ppx_sample_scalar_at(PPX_NORMAL, [1d0, 2d0], 2_c_size_t, "mu"//c_null_char, mu, &
!                                 "model.f90"//c_null_char, __LINE__)
!
! Strings are C strings: end them with c_null_char. Pass your source file and line as the call
! site (compile with -cpp for __LINE__); they make the random choice's address. A status of
! PPX_ERR_ABORTED means the engine abandoned the trace: return from the model function.
module ppx_c
  use, intrinsic :: iso_c_binding
  implicit none

  integer(c_int), parameter :: PPX_NORMAL = 1, PPX_UNIFORM = 2, PPX_CATEGORICAL = 3, PPX_POISSON = 4, &
                               PPX_BERNOULLI = 5, PPX_BETA = 6, PPX_EXPONENTIAL = 7, PPX_GAMMA = 8, &
                               PPX_LOGNORMAL = 9, PPX_BINOMIAL = 10, PPX_WEIBULL = 11
  integer(c_int), parameter :: PPX_OK = 0, PPX_ERR_INVALID = 1, PPX_ERR_ABORTED = 2, PPX_ERR_INTERNAL = 3

  interface
    integer(c_int) function ppx_sample_scalar_at(kind, params, n, name, out, file, line) bind(c)
      import :: c_int, c_double, c_size_t, c_char
      integer(c_int), value :: kind
      real(c_double), intent(in) :: params(*)
      integer(c_size_t), value :: n
      character(kind=c_char), intent(in) :: name(*)
      real(c_double), intent(out) :: out
      character(kind=c_char), intent(in) :: file(*)
      integer(c_int), value :: line
    end function

    ! value: c_loc(x) of the observed value, or c_null_ptr to let the engine supply it by name.
    integer(c_int) function ppx_observe_scalar_at(kind, params, n, name, value, file, line) bind(c)
      import :: c_int, c_double, c_size_t, c_char, c_ptr
      integer(c_int), value :: kind
      real(c_double), intent(in) :: params(*)
      integer(c_size_t), value :: n
      character(kind=c_char), intent(in) :: name(*)
      type(c_ptr), value :: value
      character(kind=c_char), intent(in) :: file(*)
      integer(c_int), value :: line
    end function

    integer(c_int) function ppx_tag_at(value, value_len, name, address, file, line) bind(c)
      import :: c_int, c_double, c_size_t, c_char, c_ptr
      real(c_double), intent(in) :: value(*)
      integer(c_size_t), value :: value_len
      character(kind=c_char), intent(in) :: name(*)
      type(c_ptr), value :: address
      character(kind=c_char), intent(in) :: file(*)
      integer(c_int), value :: line
    end function

    ! forward: c_funloc of a bind(c) function taking type(c_ptr), value and returning real(c_double).
    type(c_ptr) function ppx_model_new(name, forward, user_data) bind(c)
      import :: c_ptr, c_funptr, c_char
      character(kind=c_char), intent(in) :: name(*)
      type(c_funptr), value :: forward
      type(c_ptr), value :: user_data
    end function

    subroutine ppx_model_free(model) bind(c)
      import :: c_ptr
      type(c_ptr), value :: model
    end subroutine

    integer(c_int) function ppx_model_serve(model, endpoint, timeout_ms) bind(c)
      import :: c_int, c_ptr, c_char, c_long
      type(c_ptr), value :: model
      character(kind=c_char), intent(in) :: endpoint(*)
      integer(c_long), value :: timeout_ms
    end function

    integer(c_int) function ppx_model_run_local(model, seed, result) bind(c)
      import :: c_int, c_ptr, c_int64_t, c_double
      type(c_ptr), value :: model
      integer(c_int64_t), value :: seed
      real(c_double), intent(out) :: result
    end function
  end interface
end module ppx_c
