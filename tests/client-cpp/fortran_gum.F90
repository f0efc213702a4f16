! The Gaussian-unknown-mean model written in Fortran against ppx's C API (module ppx_c):
!   fortran_gum --serve ENDPOINT      serve PPX
!   fortran_gum --seed S              one standalone run, prints mu
module fortran_gum_model
  use, intrinsic :: iso_c_binding
  use ppx_c
  implicit none
  character(kind=c_char, len=*), parameter :: here = "fortran_gum.F90"//c_null_char
contains
  function forward(user_data) bind(c) result(mu)
    type(c_ptr), value :: user_data
    real(c_double) :: mu
    integer(c_int) :: status
    mu = 0
    status = ppx_sample_scalar_at(PPX_NORMAL, [1d0, sqrt(5d0)], 2_c_size_t, "mu"//c_null_char, mu, here, __LINE__)
    if (status /= PPX_OK) return
    status = ppx_observe_scalar_at(PPX_NORMAL, [mu, sqrt(2d0)], 2_c_size_t, "obs0"//c_null_char, c_null_ptr, &
                                   here, __LINE__)
    if (status /= PPX_OK) return
    status = ppx_observe_scalar_at(PPX_NORMAL, [mu, sqrt(2d0)], 2_c_size_t, "obs1"//c_null_char, c_null_ptr, &
                                   here, __LINE__)
  end function
end module fortran_gum_model

program fortran_gum
  use fortran_gum_model
  implicit none
  character(len=512) :: flag, argument
  type(c_ptr) :: model
  integer(c_int) :: status
  integer(c_int64_t) :: seed
  real(c_double) :: result

  call get_command_argument(1, flag)
  call get_command_argument(2, argument)
  model = ppx_model_new("fortran_gum"//c_null_char, c_funloc(forward), c_null_ptr)
  if (trim(flag) == "--serve") then
    status = ppx_model_serve(model, trim(argument)//c_null_char, 0_c_long)
  else if (trim(flag) == "--seed") then
    read (argument, *) seed
    status = ppx_model_run_local(model, seed, result)
    print '(ES24.16)', result
  else
    print '(A)', "usage: fortran_gum --serve ENDPOINT | --seed S"
    status = PPX_ERR_INVALID
  end if
  call ppx_model_free(model)
  if (status /= PPX_OK) stop 1
end program fortran_gum
